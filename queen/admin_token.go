package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
)

// minTokenBits is the least guessing work an admin token must take: 32
// random bytes.
const minTokenBits = 256

// ensureToken returns the admin token from path, creating the file (0600,
// 32 random bytes in hex) on first start. A file that is not a regular
// file of the owner's alone, holds more than one line, or a token weaker
// than 32 random bytes is refused with the command that fixes it.
func ensureToken(path string) (string, error) {
	token, err := readTokenFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return token, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token = hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ensureToken(path) // another queen made it first
	}
	if err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return token, f.Close()
}

// readTokenFile reads and checks an existing admin token file; a missing
// one is an error wrapping fs.ErrNotExist.
func readTokenFile(path string) (string, error) {
	info, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read admin token: %w", err)
	}
	regenerate := fmt.Sprintf("remove it (`rm %s`) and restart `queen serve`, which makes a new one", path)
	switch {
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("admin token %s is not a regular file (%v): %s", path, info.Mode().Type(), regenerate)
	case info.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("admin token %s has mode %04o, others may read it: run `chmod 600 %s` (and regenerate it if it leaked: %s)",
			path, info.Mode().Perm(), path, regenerate)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	token, err := checkToken(string(data))
	if err != nil {
		return "", fmt.Errorf("admin token %s %v: %s", path, err, regenerate)
	}
	return token, nil
}

// checkToken returns the one-line token in data, refusing an empty file,
// more than one line, or fewer than minTokenBits of guessing work.
func checkToken(data string) (string, error) {
	token := strings.TrimSuffix(strings.TrimSuffix(data, "\n"), "\r")
	switch {
	case strings.TrimSpace(token) == "":
		return "", errors.New("is empty")
	case strings.ContainsAny(token, "\r\n"):
		return "", errors.New("has more than one line (no client could send it)")
	case strings.TrimSpace(token) != token || strings.ContainsAny(token, " \t"):
		return "", errors.New("has blanks in it")
	case tokenBits(token) < minTokenBits:
		return "", fmt.Errorf("is too short (%d characters, about %.0f bits; it needs %d, e.g. 64 hex digits)",
			len(token), tokenBits(token), minTokenBits)
	}
	return token, nil
}

// tokenBits estimates the guessing work of token by its alphabet: hex
// digits carry 4 bits each, base64 characters 6, anything else 6.5.
func tokenBits(token string) float64 {
	perChar := 6.5
	switch {
	case strings.Trim(token, "0123456789abcdefABCDEF") == "":
		perChar = 4
	case strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_") == "":
		perChar = 6
	}
	return math.Floor(float64(len(token)) * perChar)
}
