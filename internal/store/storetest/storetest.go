package storetest

import (
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Opener returns a ready store for one test and arranges, with t.Cleanup,
// to close it. It may return the same database to every test.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	t.Helper()
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Sessions", sessionCases},
		{"Flows", flowCases},
		{"Credentials", credentialCases},
		{"Audit", auditCases},
		{"AuditChain", chainCases},
		{"Throttle", throttleCases},
		{"Tickets", ticketCases},
		{"Links", linkCases},
		{"Store", storeCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
}

// testCase is one conformance check; its name reads as a sentence.
type testCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// t0 is the suite's "now": far from the dates the GarbageCollect and
// PruneAudit tests use, with nanoseconds and a zone that is not UTC, so that
// truncation and conversion are exercised on every record.
var t0 = time.Date(2031, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+05:30", 5*3600+1800))

// uid returns an ID no other test (or run against the same database) uses.
func uid(what string) string { return what + "-" + rand.Text() }

// wantErr fails t unless err is target (by errors.Is); a nil target wants
// no error.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// must fails t on a non-nil err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, nil)
}

// same fails t unless got is want as a store hands it back: times in UTC
// and equal at microsecond precision, empty slices nil. A backend may keep
// finer precision than microseconds.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	checkUTC(t, what, reflect.ValueOf(got))
	g := mapTimes(got, func(tm time.Time) time.Time { return tm.Truncate(time.Microsecond).UTC() })
	w := canon(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, w)
	}
}

// canon returns v as a store hands it back: every time in UTC truncated to
// the microsecond, every empty slice nil.
func canon[T any](v T) T {
	v = mapTimes(v, func(tm time.Time) time.Time { return tm.Truncate(time.Microsecond).UTC() })
	return mapSlices(v)
}

var timeType = reflect.TypeFor[time.Time]()

// walk calls f for every field and element of a deep enough copy of v that
// has type time.Time or is a slice, and returns the copy; v is not changed.
func walk[T any](v T, f func(reflect.Value)) T {
	p := reflect.New(reflect.TypeOf(&v).Elem())
	p.Elem().Set(reflect.ValueOf(&v).Elem())
	var rec func(reflect.Value)
	rec = func(x reflect.Value) {
		switch {
		case x.Type() == timeType:
			f(x)
		case x.Kind() == reflect.Struct:
			for i := range x.NumField() {
				rec(x.Field(i))
			}
		case x.Kind() == reflect.Slice:
			f(x)
			if x.Len() > 0 && x.Type().Elem().Kind() == reflect.Struct {
				// Copy first: the elements are shared with the caller.
				c := reflect.MakeSlice(x.Type(), x.Len(), x.Len())
				reflect.Copy(c, x)
				x.Set(c)
				for i := range x.Len() {
					rec(x.Index(i))
				}
			}
		}
	}
	rec(p.Elem())
	return p.Elem().Interface().(T)
}

func mapTimes[T any](v T, f func(time.Time) time.Time) T {
	return walk(v, func(x reflect.Value) {
		if x.Type() == timeType {
			x.Set(reflect.ValueOf(f(x.Interface().(time.Time))))
		}
	})
}

func mapSlices[T any](v T) T {
	return walk(v, func(x reflect.Value) {
		if x.Kind() == reflect.Slice && x.Len() == 0 {
			x.Set(reflect.Zero(x.Type()))
		}
	})
}

// checkUTC fails t when a time in v is not in UTC.
func checkUTC(t *testing.T, what string, v reflect.Value) {
	t.Helper()
	switch {
	case v.Type() == timeType:
		if loc := v.Interface().(time.Time).Location(); loc != time.UTC {
			t.Fatalf("%s: time %v is in %v, want UTC", what, v.Interface(), loc)
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			checkUTC(t, what, v.Field(i))
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			checkUTC(t, what, v.Index(i))
		}
	}
}

// ids returns the IDs of records, in order.
func ids[T any](recs []T, id func(T) string) []string {
	var out []string
	for _, r := range recs {
		out = append(out, id(r))
	}
	return out
}

// only keeps the records whose ID is in keep, in their order; it lets a
// test that lists a whole table ignore other tests' records.
func only[T any](recs []T, id func(T) string, keep ...string) []T {
	set := make(map[string]bool, len(keep))
	for _, k := range keep {
		set[k] = true
	}
	var out []T
	for _, r := range recs {
		if set[id(r)] {
			out = append(out, r)
		}
	}
	return out
}

// errBoom is what update functions return to abort an update.
var errBoom = errors.New("storetest: update aborted by fn")
