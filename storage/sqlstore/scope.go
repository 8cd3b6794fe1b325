package sqlstore

import (
	"reflect"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/iswitchroofs/fieldsync/domain"
)

// scope is a record's access anchor as the database keeps it: the
// scope_ columns of the record's row hold the current one, and the anchor
// columns of each change row the one it had then. The record's
// organization, kind and id complete it into a domain.Anchor.
type scope struct {
	LeadOwner   string
	ProjectTech string
	Assignee    string
}

func scopeOf(a domain.Anchor) scope {
	return scope{LeadOwner: a.LeadOwner, ProjectTech: a.ProjectTech, Assignee: a.Assignee}
}

// anchor is what domain.CanSee needs to judge the record under sc.
// CreatedBy is not kept (no visibility rule reads it), so it is empty.
func (sc scope) anchor(orgID string, key recordKey) domain.Anchor {
	return domain.Anchor{
		OrgID: orgID, Kind: key.kind, ID: key.id,
		LeadOwner: sc.LeadOwner, ProjectTech: sc.ProjectTech, Assignee: sc.Assignee,
	}
}

// users are the people sc names.
func (sc scope) users() []string {
	var out []string
	for _, u := range []string{sc.LeadOwner, sc.ProjectTech, sc.Assignee} {
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

// scopeColumns are the internal columns every synced table carries beside
// its struct's.
var scopeColumns = []string{"scope_lead_owner", "scope_project_tech", "scope_assignee"}

// recordKey names one record of an organization.
type recordKey struct {
	kind domain.EntityKind
	id   string
}

func keyOf(rec domain.Record) recordKey {
	return recordKey{kind: rec.EntityKind(), id: rec.Base().ID}
}

// writeScope stores sc as the record's current anchor. It is not a write of
// the record: no version, no audit field changes.
func writeScope(db *gorm.DB, table, orgID, id string, sc scope) error {
	return db.Exec("UPDATE "+table+" SET scope_lead_owner = ?, scope_project_tech = ?, scope_assignee = ? WHERE org_id = ? AND id = ?",
		sc.LeadOwner, sc.ProjectTech, sc.Assignee, orgID, id).Error
}

// scopeSetting is the statement setting (gorm.DB.Set) under which a Create
// of a synced record carries its scope, for valuesWithScope.
const scopeSetting = "sqlstore:scope"

// valuesWithScope builds an INSERT's VALUES clause, adding the scope_
// columns when the statement carries a scope (scopeSetting), so that a new
// synced record's row holds its anchor from its INSERT on, without an
// UPDATE after it.
func valuesWithScope(c clause.Clause, builder clause.Builder) {
	if stmt, ok := builder.(*gorm.Statement); ok {
		if v, ok := stmt.Settings.Load(scopeSetting); ok {
			if values, ok := c.Expression.(clause.Values); ok {
				sc := v.(scope)
				cols := append(slices.Clone(values.Columns),
					clause.Column{Name: scopeColumns[0]}, clause.Column{Name: scopeColumns[1]}, clause.Column{Name: scopeColumns[2]})
				rows := make([][]any, len(values.Values))
				for i, row := range values.Values {
					rows[i] = append(slices.Clone(row), sc.LeadOwner, sc.ProjectTech, sc.Assignee)
				}
				c.Expression = clause.Values{Columns: cols, Values: rows}
			}
		}
	}
	c.Build(builder)
}

// findAll runs q on e's table and returns the records, normalized as
// findIn returns them.
func findAll(q *gorm.DB, e entity) ([]domain.Record, error) {
	slice := reflect.New(reflect.SliceOf(reflect.TypeOf(e.new())))
	if err := q.Find(slice.Interface()).Error; err != nil {
		return nil, err
	}
	out := make([]domain.Record, slice.Elem().Len())
	for i := range out {
		out[i] = slice.Elem().Index(i).Interface().(domain.Record)
		normalizeTimes(out[i])
	}
	return out, nil
}

// idsIn is one "column IN ids" condition of a descendant query.
type idsIn struct {
	column string
	ids    []string
}

// anyIn joins the conditions with non-empty id lists by OR; "" if none has
// any, meaning nothing can match.
func anyIn(conds ...idsIn) (string, []any) {
	where, args := "", []any{}
	for _, c := range conds {
		if len(c.ids) == 0 {
			continue
		}
		if where != "" {
			where += " OR "
		}
		where += c.column + " IN ?"
		args = append(args, c.ids)
	}
	if where == "" {
		return "", nil
	}
	return "(" + where + ")", args
}
