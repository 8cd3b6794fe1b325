package domain

import (
	"slices"
	"testing"
)

func TestTemperatureFor(t *testing.T) {
	t.Parallel()
	custom := OrgSettings{HotThreshold: 90, WarmThreshold: 70, CoolThreshold: 30}
	tests := []struct {
		name     string
		settings OrgSettings
		score    int
		want     Temperature
	}{
		{"default 100", DefaultOrgSettings(), 100, TempHot},
		{"default 80", DefaultOrgSettings(), 80, TempHot},
		{"default 79", DefaultOrgSettings(), 79, TempWarm},
		{"default 60", DefaultOrgSettings(), 60, TempWarm},
		{"default 59", DefaultOrgSettings(), 59, TempCool},
		{"default 40", DefaultOrgSettings(), 40, TempCool},
		{"default 39", DefaultOrgSettings(), 39, TempCold},
		{"default 0", DefaultOrgSettings(), 0, TempCold},
		{"default negative", DefaultOrgSettings(), -5, TempCold},

		{"custom 90", custom, 90, TempHot},
		{"custom 89", custom, 89, TempWarm},
		{"custom 70", custom, 70, TempWarm},
		{"custom 69", custom, 69, TempCool},
		{"custom 30", custom, 30, TempCool},
		{"custom 29", custom, 29, TempCold},

		// Zero thresholds take the default one by one.
		{"all zero 80", OrgSettings{}, 80, TempHot},
		{"all zero 79", OrgSettings{}, 79, TempWarm},
		{"all zero 40", OrgSettings{}, 40, TempCool},
		{"all zero 39", OrgSettings{}, 39, TempCold},
		{"only hot set 85", OrgSettings{HotThreshold: 85}, 85, TempHot},
		{"only hot set 84", OrgSettings{HotThreshold: 85}, 84, TempWarm},
		{"only cool set 50", OrgSettings{CoolThreshold: 50}, 50, TempCool},
		{"only cool set 49", OrgSettings{CoolThreshold: 50}, 49, TempCold},

		// Thresholds that are out of order after filling zeros fall back
		// to the defaults all together.
		{"hot below default warm: 55", OrgSettings{HotThreshold: 50}, 55, TempCool},
		{"hot below default warm: 80", OrgSettings{HotThreshold: 50}, 80, TempHot},
		{"inverted: 75", OrgSettings{HotThreshold: 40, WarmThreshold: 60, CoolThreshold: 80}, 75, TempWarm},
		{"equal warm and cool: 45", OrgSettings{HotThreshold: 90, WarmThreshold: 50, CoolThreshold: 50}, 45, TempCool},
		{"hot over 100: 100", OrgSettings{HotThreshold: 101, WarmThreshold: 60, CoolThreshold: 40}, 100, TempHot},
		{"negative cool: 10", OrgSettings{HotThreshold: 80, WarmThreshold: 60, CoolThreshold: -1}, 10, TempCold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := TemperatureFor(tt.score, tt.settings); got != tt.want {
				t.Errorf("TemperatureFor(%d, %+v) = %q, want %q", tt.score, tt.settings, got, tt.want)
			}
		})
	}
}

func TestOrgSettingsValidate(t *testing.T) {
	t.Parallel()
	valid := func(edit func(*OrgSettings)) OrgSettings {
		s := OrgSettings{
			HotThreshold: 80, WarmThreshold: 60, CoolThreshold: 40,
			PremiumZips: []string{"48301", "00501"}, TargetZips: []string{"48073"},
		}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	tests := []struct {
		name     string
		settings OrgSettings
		fields   []string // the offending fields, in order; nil means valid
	}{
		{"defaults", DefaultOrgSettings(), nil},
		{"full", valid(nil), nil},
		{"tightest bands", OrgSettings{HotThreshold: 3, WarmThreshold: 2, CoolThreshold: 1}, nil},
		{"hot at 100", valid(func(s *OrgSettings) { s.HotThreshold = 100 }), nil},
		{"same zip in both lists", valid(func(s *OrgSettings) { s.TargetZips = s.PremiumZips }), nil},

		{"zero everything", OrgSettings{}, []string{"hot_threshold", "warm_threshold", "cool_threshold"}},
		{"cool zero", valid(func(s *OrgSettings) { s.CoolThreshold = 0 }), []string{"cool_threshold"}},
		{"cool negative", valid(func(s *OrgSettings) { s.CoolThreshold = -10 }), []string{"cool_threshold"}},
		{"hot over 100", valid(func(s *OrgSettings) { s.HotThreshold = 101 }), []string{"hot_threshold"}},
		{"warm equals cool", valid(func(s *OrgSettings) { s.WarmThreshold = 40 }), []string{"warm_threshold"}},
		{"warm below cool", valid(func(s *OrgSettings) { s.WarmThreshold = 30 }), []string{"warm_threshold"}},
		{"hot equals warm", valid(func(s *OrgSettings) { s.HotThreshold = 60 }), []string{"hot_threshold"}},
		{"all inverted", OrgSettings{HotThreshold: 40, WarmThreshold: 60, CoolThreshold: 80}, []string{"warm_threshold", "hot_threshold"}},
		{"short zip", valid(func(s *OrgSettings) { s.PremiumZips = []string{"48301", "4830"} }), []string{"premium_zips[1]"}},
		{"zip+4", valid(func(s *OrgSettings) { s.TargetZips = []string{"48073-1234"} }), []string{"target_zips[0]"}},
		{"padded zip", valid(func(s *OrgSettings) { s.TargetZips = []string{" 48073"} }), []string{"target_zips[0]"}},
		{"letters", valid(func(s *OrgSettings) { s.TargetZips = []string{"4807a"} }), []string{"target_zips[0]"}},
		{"empty zip", valid(func(s *OrgSettings) { s.PremiumZips = []string{""} }), []string{"premium_zips[0]"}},
		{"non-ASCII digits", valid(func(s *OrgSettings) { s.PremiumZips = []string{"٤٨٣٠١"} }), []string{"premium_zips[0]"}},
		{
			"everything wrong at once",
			OrgSettings{HotThreshold: 200, WarmThreshold: 10, CoolThreshold: 20, PremiumZips: []string{"x"}, TargetZips: []string{"1", "12345", "y"}},
			[]string{"hot_threshold", "warm_threshold", "premium_zips[0]", "target_zips[0]", "target_zips[2]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.settings.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !IsCode(err, CodeInvalid) {
				t.Fatalf("Validate() = %v, want code %q", err, CodeInvalid)
			}
			var got []string
			for _, f := range err.(*Error).Fields {
				if f.Message == "" {
					t.Errorf("field %q has no message", f.Field)
				}
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("invalid fields %q, want %q", got, tt.fields)
			}
		})
	}
}
