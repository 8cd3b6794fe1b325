package domain

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// EscalationStep is the delay between alert levels. Every level is timed
// from the lead's creation (level × step), not from the previous send, so a
// slow send or a retried job never pushes the rest of the chain later.
const EscalationStep = 2 * time.Minute

// The alert levels: the assigned rep first, then each escalation tier.
const (
	LevelRep        = 0
	LevelManager    = 1
	LevelOperations = 2
	LevelOwner      = 3
)

// MaxAlertLevel is the last level of the chain.
const MaxAlertLevel = LevelOwner

// TaskAlertLevel is the job kind that alerts one level of a lead's chain.
// It is a stable string: outbox rows and queued tasks carry it.
const TaskAlertLevel = "alert.level"

// Channel is a way a message reaches a person.
type Channel string

// The channels. A poke is a data-only push that wakes a background app so
// it syncs before the user opens it.
const (
	ChannelPush  Channel = "push"
	ChannelPoke  Channel = "poke"
	ChannelSMS   Channel = "sms"
	ChannelEmail Channel = "email"
	ChannelVoice Channel = "voice"
)

// TierForLevel is the escalation tier alerted at level; TierNone for the
// rep's level and for anything past the owner.
func TierForLevel(level int) EscalationTier {
	switch level {
	case LevelManager:
		return TierManager
	case LevelOperations:
		return TierOperations
	case LevelOwner:
		return TierOwner
	}
	return TierNone
}

// ChannelsForLevel lists the channels a level is alerted on: push (with a
// background poke) and SMS at every level, plus email and a voice call at
// the owner's, the last chance to answer the lead.
func ChannelsForLevel(level int) []Channel {
	ch := []Channel{ChannelPush, ChannelPoke, ChannelSMS}
	if level >= LevelOwner {
		ch = append(ch, ChannelEmail, ChannelVoice)
	}
	return ch
}

// EscalationDue is when level of a lead created at created is alerted.
func EscalationDue(created time.Time, level int) time.Time {
	return created.Add(time.Duration(level) * EscalationStep)
}

// AlertLevelTask is the payload of a TaskAlertLevel job.
type AlertLevelTask struct {
	OrgID  string `json:"org_id"`
	LeadID string `json:"lead_id"`
	Level  int    `json:"level"`
}

// AlertTaskID is the task id of one level of a lead's chain
// ("alert:<lead>" for the rep, "escalate:<lead>:<level>" above). The relay
// uses the outbox id as the asynq task id, so a level is queued at most
// once however often it is written or relayed.
func AlertTaskID(leadID string, level int) string {
	if level == LevelRep {
		return "alert:" + leadID
	}
	return fmt.Sprintf("escalate:%s:%d", leadID, level)
}

// LeadAlertMessages are the outbox rows a new lead's transaction writes:
// the rep's alert at once and each escalation level at its due time. They
// commit with the lead, so neither a crash nor a Redis outage can lose the
// chain, and the relay holds each row until it is due.
func LeadAlertMessages(l *Lead) []OutboxMessage {
	out := make([]OutboxMessage, 0, MaxAlertLevel+1)
	for level := LevelRep; level <= MaxAlertLevel; level++ {
		payload, _ := json.Marshal(AlertLevelTask{OrgID: l.OrgID, LeadID: l.ID, Level: level})
		out = append(out, OutboxMessage{
			ID: AlertTaskID(l.ID, level), OrgID: l.OrgID, Kind: TaskAlertLevel,
			Payload: payload, AvailableAt: EscalationDue(l.CreatedAt, level),
		})
	}
	return out
}

// EscalationRecipients picks who is alerted at level: the lead's assignee
// at the rep's level, and every active member of the level's tier above it.
// The tier of a level with nobody in it is skipped by returning no one. A
// lead nobody could be assigned is alerted to the managers at once.
func EscalationRecipients(level int, assignee string, team []*User) []*User {
	if level == LevelRep && assignee == "" {
		level = LevelManager
	}
	var out []*User
	for _, u := range team {
		if u == nil || !u.Active {
			continue
		}
		if level == LevelRep {
			if u.ID == assignee {
				out = append(out, u)
			}
			continue
		}
		if tier := TierForLevel(level); tier != TierNone && u.EscalationTier == tier {
			out = append(out, u)
		}
	}
	return out
}

// ChainStopped reports whether a lead's chain should alert no further:
// somebody acknowledged one of its alerts, or the lead left the "new"
// column (a rep already worked it), or it was deleted.
func ChainStopped(l *Lead, alerts []*Alert) bool {
	if l == nil || l.DeletedAt != nil || l.Status != LeadNew {
		return true
	}
	for _, a := range alerts {
		if a.AcknowledgedAt != nil {
			return true
		}
	}
	return false
}

// StableID derives a UUID-shaped id from parts, so that a retried job that
// creates "the alert of lead L at level N for user U" finds the one it
// created before instead of making another.
func StableID(parts ...string) string {
	sum := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x50 // version 5 (name-based, SHA-1)
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ResponseTarget is the seed's promise: every new lead answered within
// two minutes.
const ResponseTarget = 2 * time.Minute

// LeadResponse is one alerted lead's response clock.
type LeadResponse struct {
	LeadID         string
	AssignedTo     string
	CreatedAt      time.Time
	AcknowledgedAt *time.Time
	AcknowledgedBy string
	// FirstResponseAt is the first call, SMS or email logged on the lead.
	FirstResponseAt *time.Time
}

// AnsweredAt is the earlier of acknowledgement and first response; nil
// if neither happened.
func (r LeadResponse) AnsweredAt() *time.Time {
	a, b := r.AcknowledgedAt, r.FirstResponseAt
	switch {
	case a == nil:
		return b
	case b == nil || a.Before(*b):
		return a
	}
	return b
}

// Compliance is the share of leads answered within ResponseTarget.
type Compliance struct {
	Leads         int     `json:"leads"`
	WithinTarget  int     `json:"within_target"`
	Share         float64 `json:"share"`
	MedianSeconds *int    `json:"median_seconds_to_answer,omitempty"`
}

func (c *Compliance) add(r LeadResponse) {
	c.Leads++
	if at := r.AnsweredAt(); at != nil && at.Sub(r.CreatedAt) <= ResponseTarget {
		c.WithinTarget++
	}
	c.Share = float64(c.WithinTarget) / float64(c.Leads)
}

// Period is the bucket compliance is reported by.
type Period string

// The periods.
const (
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
)

// Start returns the first instant of the period holding t, in loc; weeks
// start on Monday.
func (p Period) Start(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	switch p {
	case PeriodWeek:
		back := (int(day.Weekday()) + 6) % 7
		return day.AddDate(0, 0, -back)
	case PeriodMonth:
		return time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, loc)
	}
	return day
}

// ResponseReport is response-time compliance for the team, each rep and
// each period.
type ResponseReport struct {
	Team    Compliance            `json:"team"`
	ByRep   map[string]Compliance `json:"by_rep"`
	Periods []PeriodCompliance    `json:"periods"`
}

// PeriodCompliance is one period's team compliance.
type PeriodCompliance struct {
	Start time.Time `json:"start"`
	Compliance
}

// BuildResponseReport summarises rows (a lead with no rep is counted for
// the team only) by period in loc, periods in time order.
func BuildResponseReport(rows []LeadResponse, period Period, loc *time.Location) ResponseReport {
	if loc == nil {
		loc = time.UTC
	}
	rep := ResponseReport{ByRep: map[string]Compliance{}, Periods: []PeriodCompliance{}}
	byStart := map[time.Time]*PeriodCompliance{}
	var secs []int
	for _, r := range rows {
		rep.Team.add(r)
		if at := r.AnsweredAt(); at != nil {
			secs = append(secs, int(at.Sub(r.CreatedAt).Seconds()))
		}
		if r.AssignedTo != "" {
			c := rep.ByRep[r.AssignedTo]
			c.add(r)
			rep.ByRep[r.AssignedTo] = c
		}
		start := period.Start(r.CreatedAt, loc)
		pc := byStart[start]
		if pc == nil {
			pc = &PeriodCompliance{Start: start}
			byStart[start] = pc
		}
		pc.add(r)
	}
	if len(secs) > 0 {
		slices.Sort(secs)
		m := secs[len(secs)/2]
		rep.Team.MedianSeconds = &m
	}
	for _, pc := range byStart {
		rep.Periods = append(rep.Periods, *pc)
	}
	sort.Slice(rep.Periods, func(i, j int) bool { return rep.Periods[i].Start.Before(rep.Periods[j].Start) })
	return rep
}
