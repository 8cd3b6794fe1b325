package domain

import "strings"

// ScoreInput is everything the lead-scoring rule reads. Lead.ScoreInput
// extracts it from a lead; keeping it separate makes the rule a pure function
// of its inputs.
type ScoreInput struct {
	PropertyValue   int64 // whole US dollars
	Income          int64 // whole US dollars per year
	Zip             string
	Engagement      Engagement
	ResponseMinutes *int // nil: the prospect has not answered yet
	Interactions    int
	Budget          Budget
	Authority       Authority
	Need            Need
	Timeline        Timeline
}

// ScorePart is one line of the breakdown: the points earned, the most the
// line can earn, and the bracket that matched (e.g. "300k_to_500k").
type ScorePart struct {
	Points  int    `json:"points"`
	Max     int    `json:"max"`
	Bracket string `json:"bracket"`
}

// ScoreBreakdown is the full explanation of a lead's score, shown to reps and
// managers so that a score is never a black box.
type ScoreBreakdown struct {
	PropertyValue ScorePart `json:"property_value"`
	Income        ScorePart `json:"income"`
	Location      ScorePart `json:"location"`
	Demographics  int       `json:"demographics"`

	Engagement   ScorePart `json:"engagement"`
	ResponseTime ScorePart `json:"response_time"`
	Interactions ScorePart `json:"interactions"`
	Behavioral   int       `json:"behavioral"`

	Budget    ScorePart `json:"budget"`
	Authority ScorePart `json:"authority"`
	Need      ScorePart `json:"need"`
	Timeline  ScorePart `json:"timeline"`
	// BANTRaw is the sum of the four BANT parts (0–25); BANT is that sum
	// scaled to the 10 points the headline gives it.
	BANTRaw int `json:"bant_raw"`
	BANT    int `json:"bant"`

	Total int `json:"total"`
}

// The most each line of the breakdown can earn. The demographic lines sum to
// 55 and the behavioural ones to 35; the BANT lines sum to bantRawMax, which
// is then scaled down to bantMax so that a perfect lead scores exactly 100.
const (
	maxPropertyValue = 30
	maxIncome        = 15
	maxLocation      = 10
	maxEngagement    = 15
	maxResponseTime  = 10
	maxInteractions  = 10
	maxBudget        = 8
	maxAuthority     = 7
	maxNeed          = 5
	maxTimeline      = 5
	bantRawMax       = maxBudget + maxAuthority + maxNeed + maxTimeline
	bantMax          = 10
)

// ScoreLead scores a lead 0–100 by the seeds' rule and explains every point.
//
// Brackets are closed at their lower bound, so a round number lands in the
// higher bracket: a property worth exactly $500,000 is "500k_plus" (30) and
// an income of exactly $200,000 is "200k_plus" (15). Response time is the
// other way round because its brackets are "under N": exactly 5 minutes is
// no longer under 5 and earns 7, exactly 60 earns 4, exactly 1440 earns 1;
// a negative time (clock skew between devices) counts as 0 minutes. A nil
// ResponseMinutes means the prospect has not answered yet and earns nothing
// rather than the 1 point of a slow answer.
//
// The seeds give BANT 10 points in the headline but 25 in its parts. The
// parts are scored as written (BANTRaw, 0–25) and their sum is scaled to 10
// with round-half-up in integer arithmetic, so the total is 0–100 by
// construction and a stored score never depends on floating point.
//
// Enum values the rule does not know (a newer client's, a typo from an
// import) score like an empty answer instead of failing, because a lead
// must always get a score; validation belongs to the write path.
func ScoreLead(in ScoreInput, s OrgSettings) ScoreBreakdown {
	var b ScoreBreakdown

	b.PropertyValue = propertyValueRule.score(in.PropertyValue)
	b.Income = incomeRule.score(in.Income)
	b.Location = scoreLocation(in.Zip, s)
	b.Demographics = b.PropertyValue.Points + b.Income.Points + b.Location.Points

	b.Engagement = engagementRule.score(in.Engagement)
	b.ResponseTime = scoreResponseTime(in.ResponseMinutes)
	b.Interactions = interactionsRule.score(int64(in.Interactions))
	b.Behavioral = b.Engagement.Points + b.ResponseTime.Points + b.Interactions.Points

	b.Budget = budgetRule.score(in.Budget)
	b.Authority = authorityRule.score(in.Authority)
	b.Need = needRule.score(in.Need)
	b.Timeline = timelineRule.score(in.Timeline)
	b.BANTRaw = b.Budget.Points + b.Authority.Points + b.Need.Points + b.Timeline.Points
	b.BANT = scaleBANT(b.BANTRaw)

	b.Total = b.Demographics + b.Behavioral + b.BANT
	return b
}

// scaleBANT maps a raw BANT sum (0–25) onto 0–10, rounding halves up:
// round(raw*10/25) computed as (raw*20 + 25) / 50 so no float is involved.
func scaleBANT(raw int) int {
	return (raw*bantMax*2 + bantRawMax) / (bantRawMax * 2)
}

// award is what a bracket earns.
type award struct {
	points  int
	bracket string
}

// step is a numeric bracket closed at its lower bound.
type step struct {
	min int64
	award
}

// brackets scores a number by its first step (highest first) whose min
// the value reaches, or by below when it reaches none.
type brackets struct {
	max   int
	steps []step
	below award
}

func (b brackets) score(v int64) ScorePart {
	a := b.below
	for _, s := range b.steps {
		if v >= s.min {
			a = s.award
			break
		}
	}
	return ScorePart{Points: a.points, Max: b.max, Bracket: a.bracket}
}

// answers scores an enum answer. A listed answer's bracket is the answer
// itself; anything else (empty, "unknown", a value this version does not
// know) earns other.
type answers[S ~string] struct {
	max    int
	points map[S]int
	other  award
}

func (r answers[S]) score(v S) ScorePart {
	if p, ok := r.points[v]; ok {
		return ScorePart{Points: p, Max: r.max, Bracket: string(v)}
	}
	return ScorePart{Points: r.other.points, Max: r.max, Bracket: r.other.bracket}
}

// The rule's tables, as product.md states them.
var (
	propertyValueRule = brackets{max: maxPropertyValue, below: award{5, "under_200k"}, steps: []step{
		{500_000, award{30, "500k_plus"}},
		{300_000, award{20, "300k_to_500k"}},
		{200_000, award{10, "200k_to_300k"}},
	}}
	incomeRule = brackets{max: maxIncome, below: award{2, "under_100k"}, steps: []step{
		{200_000, award{15, "200k_plus"}},
		{150_000, award{10, "150k_to_200k"}},
		{100_000, award{5, "100k_to_150k"}},
	}}
	interactionsRule = brackets{max: maxInteractions, below: award{0, "none"}, steps: []step{
		{5, award{10, "5_plus"}},
		{3, award{7, "3_to_4"}},
		{1, award{4, "1_to_2"}},
	}}
	engagementRule = answers[Engagement]{max: maxEngagement, other: award{0, "none"}, points: map[Engagement]int{
		EngagementMultiple: 15, EngagementSingle: 10, EngagementFormFill: 5,
	}}
	budgetRule = answers[Budget]{max: maxBudget, other: award{2, "unknown"}, points: map[Budget]int{
		BudgetConfirmed: 8, BudgetEstimated: 5,
	}}
	authorityRule = answers[Authority]{max: maxAuthority, other: award{1, "unknown"}, points: map[Authority]int{
		AuthorityDecisionMaker: 7, AuthorityInfluencer: 4,
	}}
	needRule = answers[Need]{max: maxNeed, other: award{0, "unknown"}, points: map[Need]int{
		NeedImmediate: 5, NeedWithin3Mo: 3, NeedExploring: 1,
	}}
	timelineRule = answers[Timeline]{max: maxTimeline, other: award{0, "unknown"}, points: map[Timeline]int{
		TimelineUnder30: 5, Timeline30To90: 3, TimelineOver90: 1,
	}}
)

// scoreResponseTime is the one line whose brackets are closed at the top
// ("under 5 minutes"), so it is not a brackets table.
func scoreResponseTime(minutes *int) ScorePart {
	if minutes == nil {
		return ScorePart{Points: 0, Max: maxResponseTime, Bracket: "unknown"}
	}
	var a award
	switch m := *minutes; {
	case m < 5: // a negative time (clock skew) lands here, as 0 would
		a = award{10, "under_5_min"}
	case m < 60:
		a = award{7, "under_1_hour"}
	case m < 24*60:
		a = award{4, "under_24_hours"}
	default:
		a = award{1, "over_24_hours"}
	}
	return ScorePart{Points: a.points, Max: maxResponseTime, Bracket: a.bracket}
}

// scoreLocation compares only the first five characters of the trimmed zip
// so a ZIP+4 ("48009-1234") scores like its five-digit zip. Premium is
// checked first so a zip an organization listed in both lists gets the
// higher score.
func scoreLocation(zip string, s OrgSettings) ScorePart {
	z := zip5(zip)
	a := award{3, "other"}
	switch {
	case z != "" && containsZip(s.PremiumZips, z):
		a = award{10, "premium"}
	case z != "" && containsZip(s.TargetZips, z):
		a = award{7, "target"}
	}
	return ScorePart{Points: a.points, Max: maxLocation, Bracket: a.bracket}
}

// zip5 is the part of a zip code that location scoring compares.
func zip5(zip string) string {
	z := strings.TrimSpace(zip)
	if len(z) > 5 {
		z = z[:5]
	}
	return z
}

func containsZip(list []string, z string) bool {
	for _, candidate := range list {
		if zip5(candidate) == z {
			return true
		}
	}
	return false
}

// ScoreInput extracts what the scoring rule reads from the lead, so the rule
// itself never depends on the Lead type's other fields.
func (l *Lead) ScoreInput() ScoreInput {
	return ScoreInput{
		PropertyValue:   l.PropertyValue,
		Income:          l.Income,
		Zip:             l.Zip,
		Engagement:      l.Engagement,
		ResponseMinutes: l.ResponseMinutes,
		Interactions:    l.InteractionCount,
		Budget:          l.Budget,
		Authority:       l.Authority,
		Need:            l.Need,
		Timeline:        l.Timeline,
	}
}

// Rescore recomputes the lead's score, temperature and breakdown together,
// so the three stored fields can never disagree. The write path calls it
// whenever a scoring input changes.
func (l *Lead) Rescore(s OrgSettings) {
	b := ScoreLead(l.ScoreInput(), s)
	l.ScoreBreakdown = b
	l.Score = b.Total
	l.Temperature = TemperatureFor(b.Total, s)
}
