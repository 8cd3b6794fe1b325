package domain

import (
	"fmt"
	"strings"
)

// TemperatureFor bands a score: hot at or above s.HotThreshold, warm at or
// above s.WarmThreshold, cool at or above s.CoolThreshold, cold below.
//
// Settings stored before an organization edited them, or decoded from a
// partial JSON document, have zero thresholds; each zero threshold takes its
// DefaultOrgSettings value. If the thresholds are still not strictly ordered
// within 1–100 after that, all three fall back to the defaults together:
// mixing an organization's value with a default could produce bands that
// overlap, and a lead must always get a sensible temperature.
func TemperatureFor(score int, s OrgSettings) Temperature {
	hot, warm, cool := s.thresholds()
	switch {
	case score >= hot:
		return TempHot
	case score >= warm:
		return TempWarm
	case score >= cool:
		return TempCool
	default:
		return TempCold
	}
}

// thresholds returns the bands TemperatureFor applies (see there).
func (s OrgSettings) thresholds() (hot, warm, cool int) {
	d := DefaultOrgSettings()
	hot, warm, cool = s.HotThreshold, s.WarmThreshold, s.CoolThreshold
	if hot == 0 {
		hot = d.HotThreshold
	}
	if warm == 0 {
		warm = d.WarmThreshold
	}
	if cool == 0 {
		cool = d.CoolThreshold
	}
	if !(0 < cool && cool < warm && warm < hot && hot <= 100) {
		return d.HotThreshold, d.WarmThreshold, d.CoolThreshold
	}
	return hot, warm, cool
}

// Validate checks settings an administrator submits: each threshold within
// 1–100, cool < warm < hot so that every band is non-empty, and zips of
// exactly five digits (the form the location rule compares). Unlike
// TemperatureFor it does not forgive zeros: what is saved is what the
// settings page shows. It returns a CodeInvalid error listing every bad
// field, so the form can mark them all at once.
func (s OrgSettings) Validate() error {
	var fields []FieldError
	inRange := func(field string, v int) bool {
		if v < 1 || v > 100 {
			fields = append(fields, FieldError{Field: field, Message: "must be between 1 and 100"})
			return false
		}
		return true
	}
	hotOK := inRange("hot_threshold", s.HotThreshold)
	warmOK := inRange("warm_threshold", s.WarmThreshold)
	coolOK := inRange("cool_threshold", s.CoolThreshold)
	if warmOK && coolOK && s.WarmThreshold <= s.CoolThreshold {
		fields = append(fields, FieldError{Field: "warm_threshold", Message: "must be greater than cool_threshold"})
	}
	if hotOK && warmOK && s.HotThreshold <= s.WarmThreshold {
		fields = append(fields, FieldError{Field: "hot_threshold", Message: "must be greater than warm_threshold"})
	}
	fields = appendZipErrors(fields, "premium_zips", s.PremiumZips)
	fields = appendZipErrors(fields, "target_zips", s.TargetZips)
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

func appendZipErrors(fields []FieldError, name string, zips []string) []FieldError {
	for i, z := range zips {
		if !isZip5(z) {
			fields = append(fields, FieldError{
				Field:   fmt.Sprintf("%s[%d]", name, i),
				Message: "must be a 5-digit zip code",
			})
		}
	}
	return fields
}

func isZip5(z string) bool {
	return len(z) == 5 && strings.Trim(z, "0123456789") == ""
}
