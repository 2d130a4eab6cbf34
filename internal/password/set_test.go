package password

import (
	"fmt"
	"testing"
)

func TestASetContainsExactlyItsPasswords(t *testing.T) {
	var in []string
	for i := range 5000 {
		in = append(in, fmt.Sprintf("pw-%d", i))
	}
	in = append(in, in[:10]...) // duplicates fold
	for _, bits := range []uint{24, 40, 64} {
		t.Run(fmt.Sprintf("%d bits", bits), func(t *testing.T) {
			s, err := ParseSet(BuildSet(in, bits, 128))
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() > 5000 || s.Len() < 4990 {
				t.Errorf("Len = %d, want about 5000", s.Len())
			}
			for _, p := range in {
				if !s.Contains(p) {
					t.Fatalf("%q missing", p)
				}
			}
			misses := 0
			for i := range 5000 {
				if s.Contains(fmt.Sprintf("other-%d", i)) {
					misses++
				}
			}
			// 5000 entries in 2^24 give ~0.03% false positives; more is a bug.
			if misses > 10 {
				t.Errorf("%d of 5000 absent passwords matched", misses)
			}
		})
	}
}

func TestAnEmptySetContainsNothing(t *testing.T) {
	s, err := ParseSet(BuildSet(nil, 40, 128))
	if err != nil {
		t.Fatal(err)
	}
	if s.Contains("123456") || s.Len() != 0 {
		t.Error("empty set matched")
	}
}

func TestACorruptSetIsRefused(t *testing.T) {
	good := BuildSet([]string{"a", "b", "c"}, 40, 2)
	for name, b := range map[string][]byte{
		"empty":         nil,
		"wrong magic":   append([]byte("NOTASET!"), good[8:]...),
		"bad hash bits": append(append(append([]byte{}, good[:12]...), 0), good[13:]...),
		"truncated":     good[:headerLen+5],
	} {
		if _, err := ParseSet(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseSet(f *testing.F) {
	f.Add(BuildSet([]string{"a", "b", "c", "d"}, 40, 2))
	f.Fuzz(func(_ *testing.T, b []byte) {
		s, err := ParseSet(b)
		if err == nil {
			s.Contains("123456") // must not panic or hang
		}
	})
}

func BenchmarkBreachedContains(b *testing.B) {
	s, err := Breached()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Contains("Correct-Horse-Battery-9")
	}
}
