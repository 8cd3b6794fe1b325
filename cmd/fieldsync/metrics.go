package main

import (
	"github.com/prometheus/client_golang/prometheus"

	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// syncMetrics exports the sync engine's measurements to Prometheus.
type syncMetrics struct {
	pushes    *prometheus.CounterVec
	mutations *prometheus.CounterVec
	pushTime  prometheus.Histogram
	pulls     *prometheus.CounterVec
	pullTime  prometheus.Histogram
	changes   prometheus.Counter
	rejected  *prometheus.CounterVec
}

var _ fsync.Metrics = (*syncMetrics)(nil)

func newSyncMetrics(reg prometheus.Registerer) *syncMetrics {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &syncMetrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_sync_pushes_total", Help: "Sync pushes, by result (ok, gap, error).",
		}, []string{"result"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_sync_mutations_total", Help: "Pushed mutations, by outcome (applied, rejected, replayed, conflict).",
		}, []string{"outcome"}),
		pushTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fieldsync_sync_push_duration_seconds", Help: "Time to process one push.", Buckets: buckets,
		}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_sync_pulls_total", Help: "Sync pulls, by kind (incremental, snapshot, error).",
		}, []string{"kind"}),
		pullTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fieldsync_sync_pull_duration_seconds", Help: "Time to answer one pull page.", Buckets: buckets,
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fieldsync_sync_pulled_changes_total", Help: "Record changes sent to devices.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_sync_rejections_total", Help: "Rejected mutations, by mutation name and code.",
		}, []string{"mutation", "code"}),
	}
	reg.MustRegister(m.pushes, m.mutations, m.pushTime, m.pulls, m.pullTime, m.changes, m.rejected)
	return m
}

// PushDone implements fsync.Metrics.
func (m *syncMetrics) PushDone(s fsync.PushStats) {
	result := "ok"
	switch {
	case s.Err != nil:
		result = "error"
	case s.Gap:
		result = "gap"
	}
	m.pushes.WithLabelValues(result).Inc()
	m.pushTime.Observe(s.Duration.Seconds())
	m.mutations.WithLabelValues("applied").Add(float64(s.Applied))
	m.mutations.WithLabelValues("rejected").Add(float64(s.Rejected))
	m.mutations.WithLabelValues("replayed").Add(float64(s.Replayed))
	m.mutations.WithLabelValues("conflict").Add(float64(s.Conflicts))
}

// PullDone implements fsync.Metrics.
func (m *syncMetrics) PullDone(s fsync.PullStats) {
	kind := "incremental"
	switch {
	case s.Err != nil:
		kind = "error"
	case s.Snapshot:
		kind = "snapshot"
	}
	m.pulls.WithLabelValues(kind).Inc()
	m.pullTime.Observe(s.Duration.Seconds())
	m.changes.Add(float64(s.Changes))
}

// Rejected implements fsync.Metrics. An unknown mutation's name comes from
// the device, so it is not used as a label: labels stay a bounded set.
func (m *syncMetrics) Rejected(mutation string, code fsync.RejectionCode) {
	if code == fsync.RejectUnknownMutation {
		mutation = "unknown"
	}
	m.rejected.WithLabelValues(mutation, string(code)).Inc()
}
