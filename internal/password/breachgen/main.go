// Command breachgen builds internal/password/breached.bin from a list of
// passwords, one per line, most common first (gzip or plain). It is run by
// scripts/breached/regenerate.sh; see that script for the source.
//
//	go run ./internal/password/breachgen -in passwords.txt.gz -out internal/password/breached.bin
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/password"
)

func main() {
	in := flag.String("in", "", "password list, one per line, most common first (.gz allowed)")
	out := flag.String("out", "internal/password/breached.bin", "set to write")
	limit := flag.Int("limit", 0, "take only the first N passwords (0: all)")
	bits := flag.Uint("bits", 40, "hash bits (false-positive rate ≈ N/2^bits)")
	flag.Parse()
	if err := run(*in, *out, *limit, *bits); err != nil {
		fmt.Fprintln(os.Stderr, "breachgen:", err)
		os.Exit(1)
	}
}

func run(in, out string, limit int, bits uint) error {
	if bits < 24 || bits > 64 {
		return fmt.Errorf("-bits must be 24 to 64")
	}
	f, err := os.Open(in) //nolint:gosec // an operator-chosen input file
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var r io.Reader = f
	if strings.HasSuffix(in, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		r = gz
	}
	var pws []string
	sc := bufio.NewScanner(r)
	for sc.Scan() && (limit == 0 || len(pws) < limit) {
		if p := strings.TrimRight(sc.Text(), "\r"); p != "" {
			pws = append(pws, p)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	set := password.BuildSet(pws, bits, 64)
	s, err := password.ParseSet(set)
	if err != nil {
		return err
	}
	for _, p := range pws { // every input must read back
		if !s.Contains(p) {
			return fmt.Errorf("built set does not contain %d-character input", len(p))
		}
	}
	if err := os.WriteFile(out, set, 0o644); err != nil { //nolint:gosec // a public data file in the source tree
		return err
	}
	fmt.Printf("%d passwords, %d distinct hashes of %d bits, %d bytes (%.1f bits each)\n",
		len(pws), s.Len(), bits, len(set), float64(len(set)*8)/float64(s.Len()))
	return nil
}
