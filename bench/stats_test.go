package main

import (
	"errors"
	"maps"
	"math"
	"testing"
	"time"
)

func TestPercentilesAreNearestRank(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 5}, {95, 10}, {99, 10}, {10, 1}, {11, 2}, {100, 10}, {0.1, 1}} {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("p%v of 1..10 = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("a percentile of nothing must be NaN, not 0")
	}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // unsorted: summarize sorts a copy
	}
	s := summarize(hundred)
	if s.N != 100 || s.P50 != 50 || s.P95 != 95 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 {
		t.Errorf("summary of 1..100 = %+v", s)
	}
	if hundred[0] != 100 {
		t.Error("summarize reordered its input")
	}
}

func TestServerTimingIsParsedForAnyMetricNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   map[string]float64
	}{
		{"the format Gatehouse sends", []string{"directory;dur=1.23, store;dur=0.45, signing;dur=0.80, total;dur=3.10"},
			map[string]float64{"directory": 1.23, "store": 0.45, "signing": 0.80, "total": 3.10}},
		{"no header is no data", nil, nil},
		{"an empty header is no data", []string{""}, nil},
		{"other names, descriptions with commas and semicolons, and odd spacing",
			[]string{`cache;desc="hit, warm; really";dur=2, db ; DUR = 7.5 ,  app`},
			map[string]float64{"cache": 2, "db": 7.5, "app": 0}},
		{"repeated names and several headers add up", []string{"store;dur=1", "store;dur=2.5, total;dur=4"},
			map[string]float64{"store": 3.5, "total": 4}},
		{"a quoted or broken dur", []string{`a;dur="1.5", b;dur=fast, c;dur=NaN`}, map[string]float64{"a": 1.5, "b": 0, "c": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseServerTiming(tc.values)
			if (got == nil) != (tc.want == nil) || !maps.EqualFunc(got, tc.want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
				t.Fatalf("parseServerTiming(%q) = %v, want %v", tc.values, got, tc.want)
			}
		})
	}
}

func TestAPhaseAddsUpOwnTimeOnlyOverJourneysWithTheHeaderEverywhere(t *testing.T) {
	res := phaseResult{ErrorKinds: map[string]int{}}
	aggregate(&res, []journeyResult{
		{latency: 10 * time.Millisecond, requests: 3, timed: 3, timing: map[string]float64{"total": 12, "directory": 9, "signing": 1}},
		{latency: 30 * time.Millisecond, requests: 3, timed: 3, timing: map[string]float64{"total": 5, "directory": 1}},
		{latency: 20 * time.Millisecond, requests: 3, timed: 2, timing: map[string]float64{"total": 100}}, // one response lacked it
		{latency: 99 * time.Millisecond, requests: 1, err: errors.New("no password page")},
	})
	if res.Journeys != 4 || res.Errors != 1 || res.TimedJourneys != 2 {
		t.Fatalf("journeys %d, errors %d, timed %d", res.Journeys, res.Errors, res.TimedJourneys)
	}
	if res.Latency.N != 3 || res.Latency.P50 != 20 || res.Latency.Max != 30 {
		t.Errorf("latency over the successful journeys: %+v", res.Latency)
	}
	if own := res.Timing["own"]; own.N != 2 || own.P50 != 3 || own.P99 != 4 || own.Mean != 3.5 {
		t.Errorf("own = total − directory: %+v", own)
	}
	if s := res.Timing["signing"]; s.N != 1 || s.Mean != 1 {
		t.Errorf("a metric only some journeys had: %+v", s)
	}
	if res.Requests != 2.5 || math.Abs(res.TimedRequests-0.8) > 1e-9 {
		t.Errorf("requests/journey %v, share with the header %v", res.Requests, res.TimedRequests)
	}
}

func TestLDAPOperationsComeFromTheMetricsPerOp(t *testing.T) {
	const before = `# HELP gatehouse_directory_operation_duration_seconds Directory operations by domain controller, type and result.
# TYPE gatehouse_directory_operation_duration_seconds histogram
gatehouse_directory_operation_duration_seconds_bucket{dc="127.0.0.1:636",op="bind",result="ok",le="0.001"} 0
gatehouse_directory_operation_duration_seconds_count{dc="127.0.0.1:636",op="bind",result="ok"} 10
gatehouse_directory_operation_duration_seconds_count{dc="127.0.0.1:636",op="bind",result="invalid_credentials"} 2
gatehouse_directory_operation_duration_seconds_count{dc="127.0.0.1:636",op="search",result="ok"} 12
gatehouse_directory_operation_duration_seconds_count_total{op="search"} 1000
gatehouse_directory_operation_duration_seconds_sum{dc="127.0.0.1:636",op="search",result="ok"} 0.5
`
	const after = before + `gatehouse_directory_operation_duration_seconds_count{dc="127.0.0.2:636",op="search",result="ok"} 3
gatehouse_directory_operation_duration_seconds_count{dc="x\"y",op="dial",result="ok"} 1
`
	b := sumBy(parseSamples(before, directoryOpsMetric), "op")
	if b["bind"] != 12 || b["search"] != 12 || len(b) != 2 {
		t.Fatalf("before: %v", b)
	}
	d := diff(b, sumBy(parseSamples(after, directoryOpsMetric), "op"))
	if d["search"] != 3 || d["dial"] != 1 || len(d) != 2 {
		t.Fatalf("during the phase: %v", d)
	}
	p := phaseResult{Journeys: 3, LDAP: d}
	if ops, pool := p.LDAPPerJourney(); ops != 1 || math.Abs(pool-1.0/3) > 1e-9 {
		t.Errorf("per journey: %v ops, %v pool", ops, pool)
	}
}

func TestProcStatCPUSurvivesSpacesInTheCommandName(t *testing.T) {
	raw := []byte("4242 (gate house) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	got, err := parseStatCPU(raw, 100)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
}

func TestAUserSendsOnlyTOTPStepsGatehouseStillAccepts(t *testing.T) {
	for _, tc := range []struct {
		last, cur uint64
		want      int
	}{{0, 100, 2}, {99, 100, 2}, {100, 100, 1}, {101, 100, 0}, {102, 100, 0}} {
		if got := stepsLeft(tc.last, tc.cur); got != tc.want {
			t.Errorf("last %d, now %d: %d steps left, want %d", tc.last, tc.cur, got, tc.want)
		}
	}
	u := &user{secret: "JBSWY3DPEHPK3PXP", lastStep: 0}
	now := time.Unix(3000, 0) // step 100
	a, err1 := u.nextCode(now)
	b, err2 := u.nextCode(now)
	_, err3 := u.nextCode(now)
	if err1 != nil || err2 != nil || a == b || u.lastStep != 101 || !errors.Is(err3, errNoStep) {
		t.Fatalf("codes %q %q (%v %v), third: %v, last step %d", a, b, err1, err2, err3, u.lastStep)
	}
}
