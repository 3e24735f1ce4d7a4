package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// FingerprintPrefix starts every host key fingerprint, as printed by
// `ssh-keygen -lf`.
const FingerprintPrefix = "SHA256:"

// MaxHostKeyLen is the longest host_key line (an RSA-16384 key fits).
const MaxHostKeyLen = 8192

const (
	ruleFingerprint = "must be empty or SHA256: followed by 43 base64 characters, as printed by ssh-keygen -lf"
	ruleHostKey     = "must be empty or one authorized_keys line: <key type> <base64 key> [comment]"
)

// errHostKey is the cause behind every malformed host key.
var errHostKey = errors.New("not an authorized_keys public key")

// HostKeyFingerprint returns the SHA256 fingerprint ("SHA256:…", unpadded
// base64 of the SHA-256 of the key blob) of a public key in authorized_keys
// format, the same text ssh-keygen -lf and ssh.FingerprintSHA256 print.
func HostKeyFingerprint(authorizedKey string) (string, error) {
	blob, err := hostKeyBlob(authorizedKey)
	if err != nil {
		return "", fmt.Errorf("fingerprint host key: %w", err)
	}
	sum := sha256.Sum256(blob)
	return FingerprintPrefix + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// hostKeyBlob decodes the key blob of "<type> <base64> [comment]" and checks
// that the blob names the same key type as the line.
func hostKeyBlob(line string) ([]byte, error) {
	if hasControl(line) || len(line) > MaxHostKeyLen {
		return nil, errHostKey
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return nil, errHostKey
	}
	blob, err := base64.StdEncoding.Strict().DecodeString(fields[1])
	if err != nil {
		return nil, errHostKey
	}
	if len(blob) < 4 {
		return nil, errHostKey
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != fields[0] {
		return nil, errHostKey
	}
	return blob, nil
}

// validateHostKey checks a pinned host key line.
func validateHostKey(field, key string) error {
	if key == "" {
		return nil
	}
	if _, err := hostKeyBlob(key); err != nil {
		return fieldErr(field, key, ruleHostKey)
	}
	return nil
}

// validateFingerprint checks an expected host key fingerprint.
func validateFingerprint(field, fp string) error {
	if fp == "" {
		return nil
	}
	b64, ok := strings.CutPrefix(fp, FingerprintPrefix)
	if !ok || len(b64) != 43 {
		return fieldErr(field, fp, ruleFingerprint)
	}
	sum, err := base64.RawStdEncoding.Strict().DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return fieldErr(field, fp, ruleFingerprint)
	}
	return nil
}
