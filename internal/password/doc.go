// Package password judges new passwords beyond the directory's own policy:
// a zxcvbn strength score and an offline list of common breached passwords
// shipped in the binary.
//
// It owns the compact breached-password set (breached.bin, built by
// scripts/breached/regenerate.sh) and its format. It must not talk to the
// network (no online breach lookups) and never logs or stores a password.
package password
