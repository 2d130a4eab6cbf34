package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"runtime"
	"time"
)

// signatureCost is the measured cost of one RSA-2048 PKCS#1 v1.5 SHA-256
// signature on this machine: the yardstick that Gatehouse's CPU per journey
// is divided by, because a ratio survives a noisy or slow machine where an
// absolute number does not.
type signatureCost struct {
	N int
	// CPU is the thread CPU time per signature (total over N / N): what
	// the ratio uses, since Gatehouse's side is CPU time too.
	CPU time.Duration
	// WallP50 is the median wall time of one signature.
	WallP50 time.Duration
}

// measureSignature signs n SHA-256 digests with a fresh 2048-bit key on one
// locked OS thread, after a few warm-up signatures.
func measureSignature(n int) (signatureCost, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signatureCost{}, err
	}
	digest := sha256.Sum256([]byte("gatehouse bench: the cost of one signature"))
	sign := func() error {
		_, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for range 10 {
		if err := sign(); err != nil {
			return signatureCost{}, fmt.Errorf("rsa: %w", err)
		}
	}
	walls := make([]float64, 0, n)
	cpu0 := threadCPU()
	for range n {
		t := time.Now()
		if err := sign(); err != nil {
			return signatureCost{}, fmt.Errorf("rsa: %w", err)
		}
		walls = append(walls, float64(time.Since(t)))
	}
	cpu := threadCPU() - cpu0
	s := summarize(walls)
	return signatureCost{N: n, CPU: cpu / time.Duration(n), WallP50: time.Duration(s.P50)}, nil
}
