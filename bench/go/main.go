// gobench: the Go reference client as a benchmark worker for bench/run.py.
//
// It resolves the key with kms.Get(ctx, URI, crypto.SHA256) from github.com/sigstore/sigstore
// (pinned in go.mod; the plugin is found on PATH, as cosign finds it) and times the reference
// client's DefaultAlgorithm, PublicKey and SignMessage, one plugin process per call.
//
//	gobench [-uri minimal://k] METHOD N [MSG-BYTES]   one run, prints {"us":[per-call microseconds]}
//	gobench [-uri minimal://k] -serve                 reads lines "METHOD N MSG-BYTES", answers each as above
//	gobench [-uri minimal://k] -stream FILE REPS      SignMessage(*os.File) REPS times: {"s":[seconds],"hwm_kib":..}
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature/kms"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gobench: "+format+"\n", args...)
	os.Exit(1)
}

func run(sv kms.SignerVerifier, method string, n int, msgBytes int) []float64 {
	msg := bytes.Repeat([]byte{'x'}, msgBytes)
	us := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		started := time.Now()
		switch method {
		case "defaultAlgorithm":
			if a := sv.DefaultAlgorithm(); a != "ecdsa-p256" {
				die("defaultAlgorithm: got %q", a)
			}
		case "publicKey":
			if _, err := sv.PublicKey(); err != nil {
				die("publicKey: %v", err)
			}
		case "signMessage":
			sig, err := sv.SignMessage(bytes.NewReader(msg))
			if err != nil || len(sig) == 0 {
				die("signMessage: %v", err)
			}
		default:
			die("unknown method %q", method)
		}
		us = append(us, float64(time.Since(started).Nanoseconds())/1e3)
	}
	return us
}

// hwmKiB is this process's peak RSS (VmHWM) in KiB.
func hwmKiB() int {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.Atoi(f[0])
				return v
			}
		}
	}
	return 0
}

func emit(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		die("%v", err)
	}
	fmt.Println(string(out))
}

func main() {
	uri := flag.String("uri", "minimal://k", "key URI")
	serve := flag.Bool("serve", false, "read \"METHOD N MSG-BYTES\" lines on stdin")
	stream := flag.Bool("stream", false, "sign FILE REPS times, streamed from disk")
	flag.Parse()
	sv, err := kms.Get(context.Background(), *uri, crypto.SHA256)
	if err != nil {
		die("kms.Get(%q): %v", *uri, err)
	}
	atoi := func(s string) int {
		v, err := strconv.Atoi(s)
		if err != nil {
			die("not a number: %q", s)
		}
		return v
	}
	switch {
	case *stream:
		if flag.NArg() != 2 {
			die("usage: gobench -stream FILE REPS")
		}
		secs := []float64{}
		for i := 0; i < atoi(flag.Arg(1)); i++ {
			f, err := os.Open(flag.Arg(0))
			if err != nil {
				die("%v", err)
			}
			started := time.Now()
			sig, err := sv.SignMessage(f)
			secs = append(secs, time.Since(started).Seconds())
			f.Close()
			if err != nil || len(sig) == 0 {
				die("signMessage: %v", err)
			}
		}
		emit(map[string]any{"s": secs, "hwm_kib": hwmKiB()})
	case *serve:
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			f := strings.Fields(in.Text())
			if len(f) != 3 {
				continue
			}
			emit(map[string]any{"us": run(sv, f[0], atoi(f[1]), atoi(f[2]))})
		}
	default:
		if flag.NArg() < 2 {
			die("usage: gobench METHOD N [MSG-BYTES]")
		}
		msgBytes := 1024
		if flag.NArg() > 2 {
			msgBytes = atoi(flag.Arg(2))
		}
		emit(map[string]any{"us": run(sv, flag.Arg(0), atoi(flag.Arg(1)), msgBytes)})
	}
}
