package main

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
)

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, or NaN when it is empty.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summary is the distribution of one measurement over a phase's journeys.
type summary struct {
	N                        int
	Mean, P50, P95, P99, Max float64
}

func summarize(vals []float64) summary {
	if len(vals) == 0 {
		nan := math.NaN()
		return summary{Mean: nan, P50: nan, P95: nan, P99: nan, Max: nan}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return summary{N: len(s), Mean: sum / float64(len(s)), P50: percentile(s, 50), P95: percentile(s, 95),
		P99: percentile(s, 99), Max: s[len(s)-1]}
}

// parseServerTiming reads Server-Timing header values (RFC: a comma-separated
// list of metrics, each a name with ;param=value pairs) and returns each
// metric's dur in milliseconds, summed when a name repeats. A metric without
// dur counts as 0. It returns nil when there is no metric at all, so a
// missing header is "no data", not zeros.
func parseServerTiming(values []string) map[string]float64 {
	var out map[string]float64
	for _, v := range values {
		for _, entry := range splitOutsideQuotes(v, ',') {
			parts := splitOutsideQuotes(entry, ';')
			name := strings.TrimSpace(parts[0])
			if name == "" {
				continue
			}
			if out == nil {
				out = map[string]float64{}
			}
			dur := 0.0
			for _, p := range parts[1:] {
				k, val, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "dur") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				if f, err := strconv.ParseFloat(val, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
					dur = f
				}
			}
			out[name] += dur
		}
	}
	return out
}

// splitOutsideQuotes splits s at sep, except inside double-quoted strings
// (where a backslash escapes the next character).
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// sample is one series of a Prometheus text exposition.
type sample struct {
	Labels map[string]string
	Value  float64
}

// parseSamples returns the series of metric (the exact name, e.g.
// gatehouse_directory_operation_duration_seconds_count) in a Prometheus
// text exposition. Comments, other metrics and malformed lines are skipped.
func parseSamples(text, metric string) []sample {
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels := map[string]string{}
		if rest[0] == '{' {
			var end int
			labels, end, ok = parseLabels(rest)
			if !ok {
				continue
			}
			rest = rest[end:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out = append(out, sample{Labels: labels, Value: v})
	}
	return out
}

// parseLabels reads {a="x",b="y"} at the start of s and returns the labels
// and the index just after the closing brace.
func parseLabels(s string) (map[string]string, int, bool) {
	labels := map[string]string{}
	i := 1
	for i < len(s) {
		for i < len(s) && (s[i] == ',' || s[i] == ' ') {
			i++
		}
		if i < len(s) && s[i] == '}' {
			return labels, i + 1, true
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return nil, 0, false
		}
		name := strings.TrimSpace(s[i : i+eq])
		i += eq + 2
		var val strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, 0, false
		}
		labels[name] = val.String()
		i++ // the closing quote
	}
	return nil, 0, false
}

// sumBy adds up samples by the value of one label.
func sumBy(samples []sample, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		out[s.Labels[label]] += s.Value
	}
	return out
}

// diff returns after − before for every key of after (a counter that
// appeared during the phase counts from 0).
func diff(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
