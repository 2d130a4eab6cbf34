// Package file is a directory kept in a YAML file: users with argon2id
// password hashes, groups, account state, and a password policy. It serves
// small sites without Active Directory and `gatehouse demo`.
//
// It implements directory.Directory and every optional capability. Every
// change is written atomically (temp file + rename); a failed write leaves
// the file and the in-memory state as they were. It must never write a
// password in the clear.
package file
