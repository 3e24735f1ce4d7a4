//go:build !race

package server_test

// raceEnabled: the tests run under the race detector, which makes every
// request many times slower; the big ones shrink.
const raceEnabled = false
