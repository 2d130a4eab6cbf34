package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// The audit hash chain. Every stored audit event carries the hash of the
// event before it (PrevHash) and its own hash (Hash), which covers its
// content and PrevHash. Changing an event's content breaks its hash;
// deleting or moving an event breaks the link of the event after it. The
// store computes both inside the append's transaction, which holds the
// chain's head locked, so appends from several processes still form one
// chain.
//
// The canonical encoding that is hashed (version 1) is, in this order:
//
//	the 19 bytes "gatehouse-audit-v1\n"
//	PrevHash, as a field
//	Time as Unix microseconds in UTC: 8 bytes, big-endian two's complement
//	Type, UserID, Login, IP, RequestID, App, Result, Reason, Familiar,
//	Actor and Detail, each as a field
//
// where a field is its length in bytes (4 bytes, big-endian) followed by
// its bytes: strings as stored (UTF-8), Detail as the stored JSON bytes
// (empty when there is none). Hash = SHA-256 of that encoding. The ID is
// not hashed: the database assigns it, and the order of events is the
// chain itself. Times are hashed at the microsecond precision both
// backends store.

// AuditHashSize is the length of an audit hash.
const AuditHashSize = sha256.Size

// AuditPruned is the type of the event PruneAudit appends. Its Detail
// holds "deleted" (how many), "before" (RFC 3339), "anchor_id" and
// "anchor_hash" (hex): the chain's new anchor.
const AuditPruned = "audit.pruned"

// auditHashVersion starts the encoding; a new encoding gets a new one.
const auditHashVersion = "gatehouse-audit-v1\n"

// AuditGenesis returns the PrevHash of the first event of a chain: 32
// zero bytes.
func AuditGenesis() []byte { return make([]byte, AuditHashSize) }

// AuditHash returns the hash of e chained after prev, by the canonical
// encoding above. e.ID, e.PrevHash and e.Hash are ignored.
func AuditHash(prev []byte, e AuditEvent) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint32(n[:4], uint32(len(b))) //nolint:gosec // fields are far below 4 GiB
		h.Write(n[:4])
		h.Write(b)
	}
	h.Write([]byte(auditHashVersion))
	field(prev)
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UnixMicro())) // two's complement is the encoding
	h.Write(n[:])
	for _, s := range []string{e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result, e.Reason, e.Familiar, e.Actor} {
		field([]byte(s))
	}
	field(e.Detail)
	return h.Sum(nil)
}

// ChainAudit returns e as a backend stores it after the event whose hash
// is prev: its time in UTC at microsecond precision, PrevHash prev and
// Hash set.
func ChainAudit(prev []byte, e AuditEvent) AuditEvent {
	e.Time = time.UnixMicro(e.Time.UnixMicro()).UTC()
	e.PrevHash = append([]byte(nil), prev...)
	e.Hash = AuditHash(prev, e)
	return e
}

// PrunedEvent is the event PruneAudit appends after deleting deleted events
// from before before, leaving the chain anchored at anchorID.
func PrunedEvent(now, before time.Time, deleted, anchorID int64, anchorHash []byte) AuditEvent {
	d, _ := json.Marshal(map[string]string{
		"deleted":     strconv.FormatInt(deleted, 10),
		"before":      before.UTC().Format(time.RFC3339Nano),
		"anchor_id":   strconv.FormatInt(anchorID, 10),
		"anchor_hash": hex.EncodeToString(anchorHash),
	})
	return AuditEvent{Time: now, Type: AuditPruned, Result: "ok", Detail: d}
}
