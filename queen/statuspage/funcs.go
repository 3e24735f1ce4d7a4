package statuspage

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"clock": clock,
	"gib":   gib,
	"used":  func(d Device) int64 { return d.MemoryTotal - d.MemoryFree },
	"dur":   dur,
	"slug":  func(s string) string { return strings.ReplaceAll(s, " ", "-") },
}

// clock shows a Unix time in UTC; the page's script turns it into an age.
func clock(unix int64) string {
	if unix == 0 {
		return ""
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// gib shows bytes in GiB with one decimal.
func gib(b int64) string {
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// dur shows a phase's duration: milliseconds under a second, else tenths.
func dur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
