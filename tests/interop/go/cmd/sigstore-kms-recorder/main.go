// Command sigstore-kms-recorder is a KMS plugin that records how it was called.
//
// With INTEROP_RECORD_DIR set, call number N (counted by the recordings already
// in the directory, from 1) writes DIR/NNNN.json holding argv, the bytes read
// from stdin and what kind of file stdin was (see internal/recording). Then:
//
//   - with INTEROP_REPLAY_DIR set too, it writes the bytes of REPLAY/NNNN.out to
//     stdout verbatim, whatever the call, and exits with the status written in
//     REPLAY/NNNN.exit (default 0; "SIGKILL": it kills itself after writing);
//   - otherwise the call is answered by the reference handler with the software
//     key of internal/softkms (the key reference is the key file), so hosts can
//     run whole scenarios against it.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sigstore-kms-plugins/interop/internal/recording"
	"github.com/sigstore-kms-plugins/interop/internal/softkms"
)

func main() {
	stdinKind := recording.StdinKind(os.Stdin)
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder: reading stdin:", err)
		os.Exit(3)
	}
	n := 0
	if dir := os.Getenv("INTEROP_RECORD_DIR"); dir != "" {
		rec := recording.Call{Argv: os.Args, Stdin: stdin, StdinKind: stdinKind}
		if n, err = save(dir, rec); err != nil {
			fmt.Fprintln(os.Stderr, "recorder:", err)
			os.Exit(3)
		}
	}
	if replay := os.Getenv("INTEROP_REPLAY_DIR"); replay != "" {
		if n == 0 {
			fmt.Fprintln(os.Stderr, "recorder: INTEROP_REPLAY_DIR needs INTEROP_RECORD_DIR")
			os.Exit(3)
		}
		os.Exit(reply(filepath.Join(replay, fmt.Sprintf("%04d", n))))
	}
	os.Exit(softkms.Serve(os.Args, bytes.NewReader(stdin), os.Stdout))
}

// reply writes BASE.out and exits as BASE.exit says.
func reply(base string) int {
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 3
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 3
	}
	spec, err := os.ReadFile(base + ".exit")
	if errors.Is(err, os.ErrNotExist) {
		return 0
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 3
	}
	text := strings.TrimSpace(string(spec))
	if text == "SIGKILL" {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	code, err := strconv.Atoi(text)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder: bad exit spec:", text)
		return 3
	}
	return code
}

// save writes rec to the first free DIR/NNNN.json and returns N.
func save(dir string, rec recording.Call) (int, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	for i := 1; i < 10000; i++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%04d.json", i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return 0, err
		}
		return i, f.Close()
	}
	return 0, errors.New("too many recordings")
}
