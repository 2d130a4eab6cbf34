package password

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// The set format: a header, a block index, then a Golomb–Rice coded stream
// of the sorted, distinct hashes' gaps. Each hash is the top HashBits bits of
// SHA-256(salt || password). With the shipped 426,886 entries and 40-bit
// hashes the chance that a password not on the list matches by accident is
// about 4·10⁻⁷, and the set takes about 24 bits per entry.
const (
	setMagic  = "GHBRSET1"
	salt      = "gatehouse breached v1\x00"
	headerLen = 8 + 4 + 1 + 1 + 2 // magic, count, hash bits, rice k, block size
)

// Set is a compact, read-only set of password hashes.
type Set struct {
	count    int
	hashBits uint
	k        uint
	block    int
	firsts   []uint64 // first hash of each block
	offsets  []uint32 // bit offset of each block's second entry in data
	data     []byte
}

// Hash is the set's hash of a password.
func Hash(password string, bits uint) uint64 {
	h := sha256.New()
	h.Write([]byte(salt))
	h.Write([]byte(password))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0])[:8]) >> (64 - bits)
}

// Contains reports whether the password's hash is in the set.
func (s *Set) Contains(password string) bool {
	if s == nil || s.count == 0 {
		return false
	}
	h := Hash(password, s.hashBits)
	// The last block whose first hash is ≤ h.
	b := sort.Search(len(s.firsts), func(i int) bool { return s.firsts[i] > h }) - 1
	if b < 0 {
		return false
	}
	v := s.firsts[b]
	if v == h {
		return true
	}
	n := min(s.block, s.count-b*s.block) - 1
	r := bitReader{data: s.data, pos: uint64(s.offsets[b])}
	for range n {
		q := r.unary()
		v += q<<s.k | r.bits(s.k)
		if v >= h {
			return v == h
		}
	}
	return false
}

// Len is the number of distinct hashes in the set.
func (s *Set) Len() int { return s.count }

// BuildSet encodes the passwords as a set; duplicates are folded. It is used
// by the generator and by tests.
func BuildSet(passwords []string, hashBits uint, block int) []byte {
	hs := make([]uint64, 0, len(passwords))
	for _, p := range passwords {
		hs = append(hs, Hash(p, hashBits))
	}
	slices.Sort(hs)
	hs = slices.Compact(hs)
	// Rice parameter: log2 of the mean gap, rounded down.
	k := uint(0)
	if len(hs) > 0 {
		for mean := (^uint64(0) >> (64 - hashBits)) / uint64(len(hs)); mean > 1; mean >>= 1 {
			k++
		}
	}
	var w bitWriter
	var index []byte
	for i, h := range hs {
		if i%block == 0 {
			index = binary.BigEndian.AppendUint64(index, h)
			index = binary.BigEndian.AppendUint32(index, uint32(w.n)) //nolint:gosec // the stream is far below 4 Gbit
			continue
		}
		gap := h - hs[i-1]
		w.unary(gap >> k)
		w.bits(gap&(1<<k-1), k)
	}
	out := []byte(setMagic)
	out = binary.BigEndian.AppendUint32(out, uint32(len(hs))) //nolint:gosec // a few million at most
	out = append(out, byte(hashBits), byte(k))                //nolint:gosec // both ≤ 64
	out = binary.BigEndian.AppendUint16(out, uint16(block))   //nolint:gosec // validated by the generator
	out = append(out, index...)
	return append(out, w.buf...)
}

// ParseSet reads a set written by BuildSet. The data is kept, not copied.
func ParseSet(b []byte) (*Set, error) {
	if len(b) < headerLen || string(b[:8]) != setMagic {
		return nil, errors.New("password: not a breached-password set")
	}
	count := binary.BigEndian.Uint32(b[8:])
	s := &Set{
		hashBits: uint(b[12]),
		k:        uint(b[13]),
		block:    int(binary.BigEndian.Uint16(b[14:])),
	}
	rest := b[headerLen:]
	// Each entry takes at least a bit, so a count beyond the data's bits is
	// corrupt; checking it first also keeps the arithmetic below in range.
	if s.hashBits == 0 || s.hashBits > 64 || s.k >= s.hashBits || s.block == 0 || uint64(count) > uint64(len(rest))*8+1 {
		return nil, fmt.Errorf("password: corrupt set header (count %d, bits %d, k %d, block %d)", count, s.hashBits, s.k, s.block)
	}
	s.count = int(count)
	blocks := (s.count + s.block - 1) / s.block
	if len(rest) < blocks*12 {
		return nil, errors.New("password: truncated set index")
	}
	s.firsts = make([]uint64, blocks)
	s.offsets = make([]uint32, blocks)
	for i := range blocks {
		s.firsts[i] = binary.BigEndian.Uint64(rest[i*12:])
		s.offsets[i] = binary.BigEndian.Uint32(rest[i*12+8:])
		if i > 0 && (s.firsts[i] <= s.firsts[i-1] || s.offsets[i] < s.offsets[i-1]) {
			return nil, errors.New("password: set index out of order")
		}
	}
	s.data = rest[blocks*12:]
	if blocks > 0 && uint64(s.offsets[blocks-1]) > uint64(len(s.data))*8 {
		return nil, errors.New("password: truncated set data")
	}
	return s, nil
}

type bitWriter struct {
	buf []byte
	n   uint64 // bits written
}

func (w *bitWriter) bit(one bool) {
	if w.n%8 == 0 {
		w.buf = append(w.buf, 0)
	}
	if one {
		w.buf[len(w.buf)-1] |= 0x80 >> (w.n % 8)
	}
	w.n++
}

// unary writes q one-bits and a zero.
func (w *bitWriter) unary(q uint64) {
	for range q {
		w.bit(true)
	}
	w.bit(false)
}

func (w *bitWriter) bits(v uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.bit(v>>uint(i)&1 == 1)
	}
}

// bitReader reads what bitWriter wrote. Reading past the end yields zero
// bits, so a corrupt set gives wrong answers, never a panic.
type bitReader struct {
	data []byte
	pos  uint64
}

func (r *bitReader) bit() uint64 {
	i := r.pos / 8
	r.pos++
	if i >= uint64(len(r.data)) {
		return 0
	}
	return uint64(r.data[i]>>(7-(r.pos-1)%8)) & 1
}

func (r *bitReader) unary() uint64 {
	var q uint64
	for r.bit() == 1 {
		q++
		if q > 1<<20 { // corrupt data: stop rather than spin
			return q
		}
	}
	return q
}

func (r *bitReader) bits(n uint) uint64 {
	var v uint64
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}
