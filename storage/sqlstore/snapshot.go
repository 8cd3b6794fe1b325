package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	gosync "sync"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/iswitchroofs/fieldsync/domain"
)

// A snapshot page is mostly encoding work, and a profile of an initial sync
// put a quarter of the server's CPU into GORM decoding JSON-typed columns
// (a lead's score breakdown) only for the page to encode them again. So a
// snapshot reads those columns as the text the database holds and splices
// it into the record's JSON in place of the field's zero value.

// rawPlan is how a kind's snapshot rows are read: every column but the
// JSON-typed ones into the record, and those as text beside it.
type rawPlan struct {
	// selects lists the column expressions, the JSON ones aliased.
	selects string
	// row is struct{ Rec <record> `gorm:"embedded"`; Raw0 *string … }.
	row    reflect.Type
	fields []rawField
}

// rawField is one JSON-typed field.
type rawField struct {
	key       []byte // `"json_key":`
	omitEmpty bool
	zero      []byte // how the field's zero value encodes
}

// rawPlans caches a *rawPlan (nil for a kind without JSON columns) per
// record type.
var rawPlans gosync.Map

// rawPlanOf returns e's plan, or nil if its rows need no special reading.
func rawPlanOf(e entity) (*rawPlan, error) {
	rec := e.new()
	typ := reflect.TypeOf(rec).Elem()
	if p, ok := rawPlans.Load(typ); ok {
		return p.(*rawPlan), nil
	}
	sch, err := schema.Parse(rec, &gosync.Map{}, schema.NamingStrategy{})
	if err != nil {
		return nil, err
	}
	var cols []string
	var fields []rawField
	var extra []reflect.StructField
	for _, f := range sch.Fields {
		if f.DBName == "" {
			continue
		}
		if !strings.EqualFold(f.TagSettings["SERIALIZER"], "json") {
			cols = append(cols, f.DBName)
			continue
		}
		name, opts, _ := strings.Cut(f.StructField.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			return nil, fmt.Errorf("sqlstore: %s.%s: a JSON column needs a JSON name", typ.Name(), f.Name)
		}
		zero, err := json.Marshal(reflect.Zero(f.FieldType).Interface())
		if err != nil {
			return nil, err
		}
		alias := fmt.Sprintf("fsraw_%d", len(fields))
		cols = append(cols, f.DBName+" AS "+alias)
		fields = append(fields, rawField{
			key: []byte(`"` + name + `":`), omitEmpty: strings.Contains(","+opts+",", ",omitempty,"), zero: zero,
		})
		extra = append(extra, reflect.StructField{
			Name: fmt.Sprintf("Raw%d", len(extra)), Type: reflect.TypeOf((*string)(nil)), Tag: reflect.StructTag(`gorm:"column:` + alias + `"`),
		})
	}
	var p *rawPlan
	if len(fields) > 0 {
		p = &rawPlan{
			selects: strings.Join(cols, ", "),
			row:     reflect.StructOf(append([]reflect.StructField{{Name: "Rec", Type: typ, Tag: `gorm:"embedded"`}}, extra...)),
			fields:  fields,
		}
	}
	actual, _ := rawPlans.LoadOrStore(typ, p)
	return actual.(*rawPlan), nil
}

// find runs q with the plan's columns and returns the records with, per
// record, the stored text of each JSON column (nil for NULL).
func (p *rawPlan) find(q *gorm.DB) ([]domain.Record, [][]*string, error) {
	slice := reflect.New(reflect.SliceOf(p.row))
	if err := q.Select(p.selects).Find(slice.Interface()).Error; err != nil {
		return nil, nil, err
	}
	rows := slice.Elem()
	recs := make([]domain.Record, rows.Len())
	raws := make([][]*string, rows.Len())
	for i := range recs {
		row := rows.Index(i)
		recs[i] = row.Field(0).Addr().Interface().(domain.Record)
		normalizeTimes(recs[i])
		raws[i] = make([]*string, len(p.fields))
		for j := range p.fields {
			raws[i][j] = row.Field(j + 1).Interface().(*string)
		}
	}
	return recs, raws, nil
}

// splice puts the stored JSON of each field into payload, the encoding of
// the record with those fields at their zero value. The key followed by a
// colon can only be the field itself: inside a string value its quotes
// would be escaped.
func (p *rawPlan) splice(payload []byte, raws []*string) []byte {
	for j, f := range p.fields {
		raw := raws[j]
		if raw == nil || *raw == "" || *raw == "null" {
			continue // a NULL column decodes to the zero value: as encoded
		}
		at := bytes.Index(payload, append(append([]byte{}, f.key...), f.zero...))
		switch {
		case at >= 0:
			end := at + len(f.key) + len(f.zero)
			out := make([]byte, 0, len(payload)+len(*raw))
			out = append(out, payload[:at+len(f.key)]...)
			out = append(out, *raw...)
			payload = append(out, payload[end:]...)
		case f.omitEmpty && !emptyJSON(*raw) && len(payload) > 1 && payload[len(payload)-1] == '}':
			out := make([]byte, 0, len(payload)+len(f.key)+len(*raw)+1)
			out = append(out, payload[:len(payload)-1]...)
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(append(append(out, f.key...), *raw...), '}')
			payload = out
		}
	}
	return payload
}

// emptyJSON reports whether raw is a value that omitempty leaves out (an
// empty array, object or string, zero, false): decoded and encoded again,
// the field would not appear.
func emptyJSON(raw string) bool {
	switch strings.TrimSpace(raw) {
	case "[]", "{}", `""`, "0", "false":
		return true
	}
	return false
}
