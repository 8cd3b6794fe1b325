package domain

import (
	"testing"
)

func intp(v int) *int { return &v }

// TestScoreLeadParts pins every bracket of every line, with both sides of
// each boundary, against the numbers in product.md.
func TestScoreLeadParts(t *testing.T) {
	t.Parallel()
	settings := OrgSettings{
		PremiumZips: []string{"48009", "48301"},
		// The blank entry must not make an empty zip a target zip.
		TargetZips: []string{"48009", "48073", " 48067 ", ""},
	}
	tests := []struct {
		name string
		in   ScoreInput
		get  func(ScoreBreakdown) ScorePart
		want ScorePart
	}{
		// Property value.
		{"property 1,000,000", ScoreInput{PropertyValue: 1_000_000}, propertyPart, ScorePart{30, 30, "500k_plus"}},
		{"property exactly 500,000", ScoreInput{PropertyValue: 500_000}, propertyPart, ScorePart{30, 30, "500k_plus"}},
		{"property 499,999", ScoreInput{PropertyValue: 499_999}, propertyPart, ScorePart{20, 30, "300k_to_500k"}},
		{"property exactly 300,000", ScoreInput{PropertyValue: 300_000}, propertyPart, ScorePart{20, 30, "300k_to_500k"}},
		{"property 299,999", ScoreInput{PropertyValue: 299_999}, propertyPart, ScorePart{10, 30, "200k_to_300k"}},
		{"property exactly 200,000", ScoreInput{PropertyValue: 200_000}, propertyPart, ScorePart{10, 30, "200k_to_300k"}},
		{"property 199,999", ScoreInput{PropertyValue: 199_999}, propertyPart, ScorePart{5, 30, "under_200k"}},
		{"property unknown (0)", ScoreInput{}, propertyPart, ScorePart{5, 30, "under_200k"}},
		{"property negative", ScoreInput{PropertyValue: -1}, propertyPart, ScorePart{5, 30, "under_200k"}},

		// Income.
		{"income 1,000,000", ScoreInput{Income: 1_000_000}, incomePart, ScorePart{15, 15, "200k_plus"}},
		{"income exactly 200,000", ScoreInput{Income: 200_000}, incomePart, ScorePart{15, 15, "200k_plus"}},
		{"income 199,999", ScoreInput{Income: 199_999}, incomePart, ScorePart{10, 15, "150k_to_200k"}},
		{"income exactly 150,000", ScoreInput{Income: 150_000}, incomePart, ScorePart{10, 15, "150k_to_200k"}},
		{"income 149,999", ScoreInput{Income: 149_999}, incomePart, ScorePart{5, 15, "100k_to_150k"}},
		{"income exactly 100,000", ScoreInput{Income: 100_000}, incomePart, ScorePart{5, 15, "100k_to_150k"}},
		{"income 99,999", ScoreInput{Income: 99_999}, incomePart, ScorePart{2, 15, "under_100k"}},
		{"income unknown (0)", ScoreInput{}, incomePart, ScorePart{2, 15, "under_100k"}},

		// Location.
		{"zip premium", ScoreInput{Zip: "48301"}, locationPart, ScorePart{10, 10, "premium"}},
		{"zip in both lists: premium wins", ScoreInput{Zip: "48009"}, locationPart, ScorePart{10, 10, "premium"}},
		{"zip target", ScoreInput{Zip: "48073"}, locationPart, ScorePart{7, 10, "target"}},
		{"zip target listed with spaces", ScoreInput{Zip: "48067"}, locationPart, ScorePart{7, 10, "target"}},
		{"zip+4 premium", ScoreInput{Zip: "48301-1234"}, locationPart, ScorePart{10, 10, "premium"}},
		{"zip padded", ScoreInput{Zip: "  48073\n"}, locationPart, ScorePart{7, 10, "target"}},
		{"zip other", ScoreInput{Zip: "90210"}, locationPart, ScorePart{3, 10, "other"}},
		{"zip empty", ScoreInput{}, locationPart, ScorePart{3, 10, "other"}},
		{"zip prefix only", ScoreInput{Zip: "4830"}, locationPart, ScorePart{3, 10, "other"}},

		// Engagement.
		{"engagement multiple", ScoreInput{Engagement: EngagementMultiple}, engagementPart, ScorePart{15, 15, "multiple_visits"}},
		{"engagement single", ScoreInput{Engagement: EngagementSingle}, engagementPart, ScorePart{10, 15, "single_visit"}},
		{"engagement form fill", ScoreInput{Engagement: EngagementFormFill}, engagementPart, ScorePart{5, 15, "form_fill"}},
		{"engagement none", ScoreInput{}, engagementPart, ScorePart{0, 15, "none"}},
		{"engagement unknown value", ScoreInput{Engagement: "viral"}, engagementPart, ScorePart{0, 15, "none"}},

		// Response time.
		{"response not yet", ScoreInput{}, responsePart, ScorePart{0, 10, "unknown"}},
		{"response negative", ScoreInput{ResponseMinutes: intp(-30)}, responsePart, ScorePart{10, 10, "under_5_min"}},
		{"response 0 min", ScoreInput{ResponseMinutes: intp(0)}, responsePart, ScorePart{10, 10, "under_5_min"}},
		{"response 4 min", ScoreInput{ResponseMinutes: intp(4)}, responsePart, ScorePart{10, 10, "under_5_min"}},
		{"response exactly 5 min", ScoreInput{ResponseMinutes: intp(5)}, responsePart, ScorePart{7, 10, "under_1_hour"}},
		{"response 59 min", ScoreInput{ResponseMinutes: intp(59)}, responsePart, ScorePart{7, 10, "under_1_hour"}},
		{"response exactly 60 min", ScoreInput{ResponseMinutes: intp(60)}, responsePart, ScorePart{4, 10, "under_24_hours"}},
		{"response 1439 min", ScoreInput{ResponseMinutes: intp(1439)}, responsePart, ScorePart{4, 10, "under_24_hours"}},
		{"response exactly 1440 min", ScoreInput{ResponseMinutes: intp(1440)}, responsePart, ScorePart{1, 10, "over_24_hours"}},
		{"response a month", ScoreInput{ResponseMinutes: intp(43_200)}, responsePart, ScorePart{1, 10, "over_24_hours"}},

		// Interactions.
		{"interactions negative", ScoreInput{Interactions: -1}, interactionsPart, ScorePart{0, 10, "none"}},
		{"interactions 0", ScoreInput{}, interactionsPart, ScorePart{0, 10, "none"}},
		{"interactions 1", ScoreInput{Interactions: 1}, interactionsPart, ScorePart{4, 10, "1_to_2"}},
		{"interactions 2", ScoreInput{Interactions: 2}, interactionsPart, ScorePart{4, 10, "1_to_2"}},
		{"interactions 3", ScoreInput{Interactions: 3}, interactionsPart, ScorePart{7, 10, "3_to_4"}},
		{"interactions 4", ScoreInput{Interactions: 4}, interactionsPart, ScorePart{7, 10, "3_to_4"}},
		{"interactions 5", ScoreInput{Interactions: 5}, interactionsPart, ScorePart{10, 10, "5_plus"}},
		{"interactions 50", ScoreInput{Interactions: 50}, interactionsPart, ScorePart{10, 10, "5_plus"}},

		// Budget.
		{"budget confirmed", ScoreInput{Budget: BudgetConfirmed}, budgetPart, ScorePart{8, 8, "confirmed"}},
		{"budget estimated", ScoreInput{Budget: BudgetEstimated}, budgetPart, ScorePart{5, 8, "estimated"}},
		{"budget unknown", ScoreInput{Budget: BudgetUnknown}, budgetPart, ScorePart{2, 8, "unknown"}},
		{"budget empty", ScoreInput{}, budgetPart, ScorePart{2, 8, "unknown"}},
		{"budget unknown value", ScoreInput{Budget: "CONFIRMED"}, budgetPart, ScorePart{2, 8, "unknown"}},

		// Authority.
		{"authority decision maker", ScoreInput{Authority: AuthorityDecisionMaker}, authorityPart, ScorePart{7, 7, "decision_maker"}},
		{"authority influencer", ScoreInput{Authority: AuthorityInfluencer}, authorityPart, ScorePart{4, 7, "influencer"}},
		{"authority unknown", ScoreInput{Authority: AuthorityUnknown}, authorityPart, ScorePart{1, 7, "unknown"}},
		{"authority empty", ScoreInput{}, authorityPart, ScorePart{1, 7, "unknown"}},
		{"authority unknown value", ScoreInput{Authority: "ceo"}, authorityPart, ScorePart{1, 7, "unknown"}},

		// Need.
		{"need immediate", ScoreInput{Need: NeedImmediate}, needPart, ScorePart{5, 5, "immediate"}},
		{"need within 3 months", ScoreInput{Need: NeedWithin3Mo}, needPart, ScorePart{3, 5, "within_3_months"}},
		{"need exploring", ScoreInput{Need: NeedExploring}, needPart, ScorePart{1, 5, "exploring"}},
		{"need empty", ScoreInput{}, needPart, ScorePart{0, 5, "unknown"}},
		{"need unknown value", ScoreInput{Need: "urgent"}, needPart, ScorePart{0, 5, "unknown"}},

		// Timeline.
		{"timeline under 30 days", ScoreInput{Timeline: TimelineUnder30}, timelinePart, ScorePart{5, 5, "under_30_days"}},
		{"timeline 30 to 90 days", ScoreInput{Timeline: Timeline30To90}, timelinePart, ScorePart{3, 5, "30_to_90_days"}},
		{"timeline over 90 days", ScoreInput{Timeline: TimelineOver90}, timelinePart, ScorePart{1, 5, "over_90_days"}},
		{"timeline empty", ScoreInput{}, timelinePart, ScorePart{0, 5, "unknown"}},
		{"timeline unknown value", ScoreInput{Timeline: "someday"}, timelinePart, ScorePart{0, 5, "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.get(ScoreLead(tt.in, settings)); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func propertyPart(b ScoreBreakdown) ScorePart     { return b.PropertyValue }
func incomePart(b ScoreBreakdown) ScorePart       { return b.Income }
func locationPart(b ScoreBreakdown) ScorePart     { return b.Location }
func engagementPart(b ScoreBreakdown) ScorePart   { return b.Engagement }
func responsePart(b ScoreBreakdown) ScorePart     { return b.ResponseTime }
func interactionsPart(b ScoreBreakdown) ScorePart { return b.Interactions }
func budgetPart(b ScoreBreakdown) ScorePart       { return b.Budget }
func authorityPart(b ScoreBreakdown) ScorePart    { return b.Authority }
func needPart(b ScoreBreakdown) ScorePart         { return b.Need }
func timelinePart(b ScoreBreakdown) ScorePart     { return b.Timeline }

// TestScoreLeadWhole checks complete breakdowns, subtotals and the BANT
// scaling on realistic leads, with every number worked out by hand.
func TestScoreLeadWhole(t *testing.T) {
	t.Parallel()
	settings := OrgSettings{PremiumZips: []string{"48301"}, TargetZips: []string{"48073"}}
	tests := []struct {
		name string
		in   ScoreInput
		want ScoreBreakdown
	}{
		{
			name: "perfect lead scores exactly 100",
			in: ScoreInput{
				PropertyValue: 750_000, Income: 250_000, Zip: "48301",
				Engagement: EngagementMultiple, ResponseMinutes: intp(2), Interactions: 6,
				Budget: BudgetConfirmed, Authority: AuthorityDecisionMaker,
				Need: NeedImmediate, Timeline: TimelineUnder30,
			},
			want: ScoreBreakdown{
				PropertyValue: ScorePart{30, 30, "500k_plus"},
				Income:        ScorePart{15, 15, "200k_plus"},
				Location:      ScorePart{10, 10, "premium"},
				Demographics:  55,
				Engagement:    ScorePart{15, 15, "multiple_visits"},
				ResponseTime:  ScorePart{10, 10, "under_5_min"},
				Interactions:  ScorePart{10, 10, "5_plus"},
				Behavioral:    35,
				Budget:        ScorePart{8, 8, "confirmed"},
				Authority:     ScorePart{7, 7, "decision_maker"},
				Need:          ScorePart{5, 5, "immediate"},
				Timeline:      ScorePart{5, 5, "under_30_days"},
				BANTRaw:       25,
				BANT:          10,
				Total:         100,
			},
		},
		{
			name: "empty lead scores the floor of 11",
			in:   ScoreInput{},
			want: ScoreBreakdown{
				PropertyValue: ScorePart{5, 30, "under_200k"},
				Income:        ScorePart{2, 15, "under_100k"},
				Location:      ScorePart{3, 10, "other"},
				Demographics:  10,
				Engagement:    ScorePart{0, 15, "none"},
				ResponseTime:  ScorePart{0, 10, "unknown"},
				Interactions:  ScorePart{0, 10, "none"},
				Behavioral:    0,
				Budget:        ScorePart{2, 8, "unknown"},
				Authority:     ScorePart{1, 7, "unknown"},
				Need:          ScorePart{0, 5, "unknown"},
				Timeline:      ScorePart{0, 5, "unknown"},
				BANTRaw:       3,
				BANT:          1, // 3 × 10 / 25 = 1.2
				Total:         11,
			},
		},
		{
			name: "typical warm web lead",
			in: ScoreInput{
				PropertyValue: 350_000, Income: 120_000, Zip: "48073-0001",
				Engagement: EngagementFormFill, ResponseMinutes: intp(45), Interactions: 2,
				Budget: BudgetEstimated, Authority: AuthorityInfluencer,
				Need: NeedWithin3Mo, Timeline: Timeline30To90,
			},
			want: ScoreBreakdown{
				PropertyValue: ScorePart{20, 30, "300k_to_500k"},
				Income:        ScorePart{5, 15, "100k_to_150k"},
				Location:      ScorePart{7, 10, "target"},
				Demographics:  32,
				Engagement:    ScorePart{5, 15, "form_fill"},
				ResponseTime:  ScorePart{7, 10, "under_1_hour"},
				Interactions:  ScorePart{4, 10, "1_to_2"},
				Behavioral:    16,
				Budget:        ScorePart{5, 8, "estimated"},
				Authority:     ScorePart{4, 7, "influencer"},
				Need:          ScorePart{3, 5, "within_3_months"},
				Timeline:      ScorePart{3, 5, "30_to_90_days"},
				BANTRaw:       15,
				BANT:          6, // 15 × 10 / 25 = 6
				Total:         54,
			},
		},
		{
			name: "BANT rounds up from .6",
			in: ScoreInput{
				PropertyValue: 200_000, Income: 150_000, Zip: "10001",
				Engagement: EngagementSingle, ResponseMinutes: intp(1440), Interactions: 3,
				Budget: BudgetConfirmed, Authority: AuthorityInfluencer,
				Need: NeedExploring, Timeline: TimelineOver90,
			},
			want: ScoreBreakdown{
				PropertyValue: ScorePart{10, 30, "200k_to_300k"},
				Income:        ScorePart{10, 15, "150k_to_200k"},
				Location:      ScorePart{3, 10, "other"},
				Demographics:  23,
				Engagement:    ScorePart{10, 15, "single_visit"},
				ResponseTime:  ScorePart{1, 10, "over_24_hours"},
				Interactions:  ScorePart{7, 10, "3_to_4"},
				Behavioral:    18,
				Budget:        ScorePart{8, 8, "confirmed"},
				Authority:     ScorePart{4, 7, "influencer"},
				Need:          ScorePart{1, 5, "exploring"},
				Timeline:      ScorePart{1, 5, "over_90_days"},
				BANTRaw:       14,
				BANT:          6, // 14 × 10 / 25 = 5.6
				Total:         47,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ScoreLead(tt.in, settings); got != tt.want {
				t.Errorf("ScoreLead:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestScaleBANT pins round(raw × 10 / 25), halves up, for every raw sum.
func TestScaleBANT(t *testing.T) {
	t.Parallel()
	// want[raw] written out by hand: raw × 0.4 rounded.
	want := []int{
		0, 0, 1, 1, 2, 2, 2, 3, 3, 4, // 0–9
		4, 4, 5, 5, 6, 6, 6, 7, 7, 8, // 10–19
		8, 8, 9, 9, 10, 10, // 20–25
	}
	for raw, w := range want {
		if got := scaleBANT(raw); got != w {
			t.Errorf("scaleBANT(%d) = %d, want %d", raw, got, w)
		}
	}
}

// TestScoreLeadInvariants walks every combination of brackets (one input
// per bracket) and checks that the subtotals add up, each part stays within
// its max, the maxes sum to 100 and the total stays within 0–100.
func TestScoreLeadInvariants(t *testing.T) {
	t.Parallel()
	settings := OrgSettings{PremiumZips: []string{"48301"}, TargetZips: []string{"48073"}}
	var (
		properties   = []int64{0, 250_000, 400_000, 600_000}
		incomes      = []int64{0, 120_000, 170_000, 300_000}
		zips         = []string{"", "48073", "48301"}
		engagements  = []Engagement{"", EngagementFormFill, EngagementSingle, EngagementMultiple}
		responses    = []*int{nil, intp(3), intp(30), intp(300), intp(3000)}
		interactions = []int{0, 1, 3, 5}
		budgets      = []Budget{"", BudgetEstimated, BudgetConfirmed}
		authorities  = []Authority{"", AuthorityInfluencer, AuthorityDecisionMaker}
		needs        = []Need{"", NeedExploring, NeedWithin3Mo, NeedImmediate}
		timelines    = []Timeline{"", TimelineOver90, Timeline30To90, TimelineUnder30}
	)
	seen := map[int]bool{}
	count := 0
	for _, pv := range properties {
		for _, inc := range incomes {
			for _, zip := range zips {
				for _, eng := range engagements {
					for _, rm := range responses {
						for _, n := range interactions {
							for _, bu := range budgets {
								for _, au := range authorities {
									for _, ne := range needs {
										for _, tl := range timelines {
											in := ScoreInput{pv, inc, zip, eng, rm, n, bu, au, ne, tl}
											b := ScoreLead(in, settings)
											checkBreakdown(t, in, b)
											seen[b.Total] = true
											count++
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if count != 4*4*3*4*5*4*3*3*4*4 {
		t.Fatalf("walked %d combinations", count)
	}
	if !seen[11] || !seen[100] {
		t.Errorf("the walk should reach the floor (11) and the ceiling (100)")
	}
}

func checkBreakdown(t *testing.T, in ScoreInput, b ScoreBreakdown) {
	t.Helper()
	parts := []ScorePart{
		b.PropertyValue, b.Income, b.Location, b.Engagement, b.ResponseTime,
		b.Interactions, b.Budget, b.Authority, b.Need, b.Timeline,
	}
	maxSum := 0
	for _, p := range parts {
		if p.Points < 0 || p.Points > p.Max || p.Bracket == "" {
			t.Fatalf("%+v: bad part %+v", in, p)
		}
		maxSum += p.Max
	}
	if maxSum != 55+35+25 {
		t.Fatalf("%+v: maxes sum to %d", in, maxSum)
	}
	switch {
	case b.Demographics != b.PropertyValue.Points+b.Income.Points+b.Location.Points,
		b.Behavioral != b.Engagement.Points+b.ResponseTime.Points+b.Interactions.Points,
		b.BANTRaw != b.Budget.Points+b.Authority.Points+b.Need.Points+b.Timeline.Points,
		b.BANT != scaleBANT(b.BANTRaw),
		b.Total != b.Demographics+b.Behavioral+b.BANT,
		b.Total < 0 || b.Total > 100:
		t.Fatalf("%+v: inconsistent breakdown %+v", in, b)
	}
}

func TestLeadScoreInputAndRescore(t *testing.T) {
	t.Parallel()
	lead := &Lead{
		PropertyValue: 520_000, Income: 90_000, Zip: "48301",
		Engagement: EngagementSingle, ResponseMinutes: intp(10), InteractionCount: 4,
		Budget: BudgetConfirmed, Authority: AuthorityDecisionMaker,
		Need: NeedImmediate, Timeline: Timeline30To90,
		// Stale values Rescore must overwrite.
		Score: 3, Temperature: TempHot,
	}
	want := ScoreInput{
		PropertyValue: 520_000, Income: 90_000, Zip: "48301",
		Engagement: EngagementSingle, ResponseMinutes: lead.ResponseMinutes, Interactions: 4,
		Budget: BudgetConfirmed, Authority: AuthorityDecisionMaker,
		Need: NeedImmediate, Timeline: Timeline30To90,
	}
	if got := lead.ScoreInput(); got != want {
		t.Fatalf("ScoreInput() = %+v, want %+v", got, want)
	}

	settings := OrgSettings{HotThreshold: 75, WarmThreshold: 60, CoolThreshold: 40, PremiumZips: []string{"48301"}}
	lead.Rescore(settings)
	// 30 + 2 + 10 = 42; 10 + 7 + 7 = 24; BANT raw 8+7+5+3 = 23 → 9.2 → 9.
	if lead.Score != 75 || lead.ScoreBreakdown.Total != 75 || lead.ScoreBreakdown.BANT != 9 {
		t.Fatalf("Rescore: score %d, breakdown %+v", lead.Score, lead.ScoreBreakdown)
	}
	if lead.Temperature != TempHot {
		t.Errorf("75 with hot at 75: temperature %q, want hot", lead.Temperature)
	}
	lead.Rescore(DefaultOrgSettings())
	// Without the premium zip the location drops to 3: 75 − 7 = 68.
	if lead.Score != 68 || lead.Temperature != TempWarm {
		t.Errorf("Rescore(defaults): score %d temperature %q, want 68 warm", lead.Score, lead.Temperature)
	}
}
