package ad

import (
	"context"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// series returns the samples of one metric family keyed by their labels.
func series(t *testing.T, m *observe.Metrics, name string) map[string]*dto.Metric {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			key := ""
			for _, l := range s.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + ","
			}
			out[key] = s
		}
	}
	return out
}

func TestMetricsPerDC(t *testing.T) {
	dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
	dc1.dialErr = syscall.ECONNREFUSED
	m := observe.NewMetrics("test", "test")
	d, _ := newFakeDirectoryOpts(t, testConfig(), Options{Metrics: m}, dc1, dc2)
	if _, err := d.Authenticate(context.Background(), "alice", "Al1ce!Passw0rd"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(context.Background(), "alice", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	ops := series(t, m, "gatehouse_directory_operation_duration_seconds")
	for _, key := range []string{
		"dc=dc1:636,op=dial,result=transport_error,",
		"dc=dc2:636,op=dial,result=ok,",
		"dc=dc2:636,op=service_bind,result=ok,",
		"dc=dc2:636,op=search,result=ok,",
		"dc=dc2:636,op=bind,result=ok,",
		"dc=dc2:636,op=bind,result=invalid_credentials,",
	} {
		if s, ok := ops[key]; !ok || s.GetHistogram().GetSampleCount() == 0 {
			t.Errorf("no samples for %s; have %v", key, keys(ops))
		}
	}
	health := series(t, m, "gatehouse_directory_dc_healthy")
	if g := health["dc=dc1:636,"]; g == nil || g.GetGauge().GetValue() != 0 {
		t.Errorf("dc1 health = %v", g)
	}
	if g := health["dc=dc2:636,"]; g == nil || g.GetGauge().GetValue() != 1 {
		t.Errorf("dc2 health = %v", g)
	}
	pool := series(t, m, "gatehouse_directory_dc_pool_connections")
	if g := pool["dc=dc2:636,"]; g == nil || g.GetGauge().GetValue() != 2 {
		t.Errorf("dc2 pool size = %v, want 2 (one service, one bind connection)", g)
	}
}

func keys(m map[string]*dto.Metric) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
