package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rbee-fleet/rbee/queen/client"
)

// Descriptions of where the admin token came from, as error messages show
// them. The file source is described by its path.
const (
	tokenFromFlag = "--token flag"
	tokenFromEnv  = "RBEE_TOKEN"
)

// errNoToken is wrapped by the error of a missing admin token file.
var errNoToken = errors.New("no admin token")

// adminToken is the admin token and where it came from.
type adminToken struct {
	value string
	from  string // tokenFromFlag, tokenFromEnv or the file's path
}

// resolveToken picks the admin token: the --token flag, else RBEE_TOKEN,
// else <dataDir>/admin.token. Kong fills both the flag and the variable into
// one field, value; flagGiven says whether it came from the command line.
func resolveToken(value string, flagGiven bool, dataDir string) (adminToken, error) {
	value = strings.TrimSpace(value)
	switch {
	case value != "" && flagGiven:
		return adminToken{value: value, from: tokenFromFlag}, nil
	case value != "":
		return adminToken{value: value, from: tokenFromEnv}, nil
	}
	path := filepath.Join(dataDir, tokenFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return adminToken{}, fmt.Errorf("%w: %s not found; start the queen once with `queen serve` (it creates the token) or pass --token",
			errNoToken, path)
	}
	if err != nil {
		return adminToken{}, fmt.Errorf("read admin token: %w", err)
	}
	value = strings.TrimSpace(string(data))
	if value == "" {
		return adminToken{}, withHint(fmt.Errorf("%w: %s is empty", errNoToken, path),
			"remove it and restart `queen serve` to make a new one, or pass --token")
	}
	return adminToken{value: value, from: path}, nil
}

// tokenRejected turns the queen's 401 into an error naming where the
// rejected token came from (never the token); other errors pass unchanged.
func tokenRejected(queenURL, dataDir string, tok adminToken, err error) error {
	if !client.IsUnauthorized(err) {
		return err
	}
	var hint string
	switch tok.from {
	case tokenFromFlag, tokenFromEnv:
		hint = fmt.Sprintf("the %s value must equal the admin.token in the queen's data dir; "+
			"leave it unset to use %s", tok.from, filepath.Join(dataDir, tokenFile))
	default:
		hint = "this queen was started with another data dir: point --data-dir (or RBEE_HOME) at it, " +
			"or pass its admin.token with --token or RBEE_TOKEN"
	}
	return &hintError{
		msg:  fmt.Sprintf("queen at %s rejected the admin token from %s", queenURL, tok.from),
		err:  err,
		hint: hint,
	}
}
