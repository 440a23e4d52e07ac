// Package recording holds what the recorder plugin writes for each call.
package recording

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Call is one recorded plugin invocation.
type Call struct {
	// Argv is the whole command line, argv[0] included.
	Argv []string `json:"argv"`
	// Stdin is every byte the plugin could read from stdin.
	Stdin []byte `json:"stdin"`
	// StdinKind is what stdin was: "devnull", "pipe", "file", "char-device",
	// "socket", "closed" or "other".
	StdinKind string `json:"stdinKind"`
}

// StdinKind describes f, the plugin's stdin.
func StdinKind(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return "closed"
	}
	mode := fi.Mode()
	switch {
	case mode&os.ModeNamedPipe != 0:
		return "pipe"
	case mode&os.ModeSocket != 0:
		return "socket"
	case mode&os.ModeCharDevice != 0:
		if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
			return "devnull"
		}
		return "char-device"
	case mode.IsRegular():
		return "file"
	default:
		return "other"
	}
}

// Load reads every DIR/*.json recording, in call order.
func Load(dir string) ([]Call, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	calls := make([]Call, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var c Call
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		calls = append(calls, c)
	}
	return calls, nil
}
