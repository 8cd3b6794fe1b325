package sync

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/iswitchroofs/fieldsync/domain"
)

// checker gathers every invalid field of a record, so that one rejection
// names them all and the user fixes them at once.
type checker struct {
	fields []domain.FieldError
	// changed, if set, limits the checks to the fields a mutation changed,
	// so that a record stored before a rule existed (an import, an older
	// server) can still be edited without first fixing what the user did
	// not touch.
	changed func(field string) bool
}

// add records a problem with field.
func (c *checker) add(field, format string, args ...any) {
	c.addFor([]string{field}, field, format, args...)
}

// addFor records a problem with field that concerns the fields about (a
// rule between fields): only if one of them changed.
func (c *checker) addFor(about []string, field, format string, args ...any) {
	if c.changed != nil && !slices.ContainsFunc(about, c.changed) {
		return
	}
	c.fields = append(c.fields, domain.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.fields) == 0 {
		return nil
	}
	return domain.Invalid(c.fields...)
}

// Text limits: long free text (notes, bodies, captions) and everything else.
const (
	maxLongText  = 10_000
	maxShortText = 500
)

var longText = []string{"notes", "body", "caption", "lost_reason", "failure_reason"}

// lengths checks every string field of rec against the text limits, so no
// handler can forget one.
func (c *checker) lengths(rec domain.Record) {
	kf := fieldsOf(rec.EntityKind())
	for _, name := range sortedKeys(kf.byName) {
		fi := kf.byName[name]
		if fi.typ.Kind() != reflect.String {
			continue
		}
		limit := maxShortText
		if slices.Contains(longText, name) {
			limit = maxLongText
		}
		if n := utf8.RuneCountInString(fieldValue(rec, fi).String()); n > limit {
			c.add(name, "must be at most %d characters", limit)
		}
	}
}

// oneOf checks an enumerated field ("" allowed only if listed).
func (c *checker) oneOf(field, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		c.add(field, "must be one of %s", quoteList(allowed))
	}
}

func quoteList(vs []string) string {
	q := make([]string, 0, len(vs))
	for _, v := range vs {
		if v == "" {
			q = append(q, `"" (none)`)
			continue
		}
		q = append(q, fmt.Sprintf("%q", v))
	}
	return strings.Join(q, ", ")
}

// email checks an optional email address loosely: a real check is sending
// mail. It refuses what is certainly not one.
func (c *checker) email(field, v string) {
	if v == "" {
		return
	}
	local, domainPart, ok := strings.Cut(v, "@")
	if !ok || local == "" || !strings.Contains(domainPart, ".") || strings.ContainsAny(v, " \t\r\n<>,;") ||
		strings.HasSuffix(domainPart, ".") || strings.Contains(domainPart, "@") {
		c.add(field, "must be an email address")
	}
}

// phone checks an optional phone number: 7 to 15 digits (E.164's most), in
// any usual punctuation.
func (c *checker) phone(field, v string) {
	if v == "" {
		return
	}
	digits := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-(). ", r):
		default:
			c.add(field, "must be a phone number")
			return
		}
	}
	if digits < 7 || digits > 15 {
		c.add(field, "must be a phone number of 7 to 15 digits")
	}
}

func (c *checker) nonNegative(field string, v int64) {
	if v < 0 {
		c.add(field, "must be 0 or more")
	}
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// person checks what leads and customers share: a name and a way to reach
// them.
func (c *checker) person(first, last, email, phone string) {
	if blank(first) && blank(last) {
		c.addFor([]string{"first_name", "last_name"}, "first_name", "a first or last name is required")
	}
	if blank(email) && blank(phone) {
		c.addFor([]string{"email", "phone"}, "phone", "a phone number or email is required")
	}
	c.email("email", email)
	c.phone("phone", phone)
}
