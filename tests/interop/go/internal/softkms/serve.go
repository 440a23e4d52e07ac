package softkms

import (
	"fmt"
	"io"
	"os"

	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

// Serve answers one plugin call with the reference handler: argv is the whole
// command line ([program, "v1", JSON]), the key reference is the key file.
// It returns the exit code.
func Serve(argv []string, stdin io.Reader, stdout io.Writer) (code int) {
	if len(argv) > 1 && argv[1] != common.ProtocolVersion {
		_ = handler.WriteErrorResponse(stdout, fmt.Errorf("expected protocol version: %s, got %s", common.ProtocolVersion, argv[1]))
		return 1
	}
	args, err := handler.GetPluginArgs(argv)
	if err != nil {
		_ = handler.WriteErrorResponse(stdout, err)
		return 1
	}
	if args.InitOptions == nil {
		_ = handler.WriteErrorResponse(stdout, fmt.Errorf("the request has no initOptions"))
		return 1
	}
	// The reference handler dereferences the method's arguments without a
	// check; a request without them must not crash this plugin.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(os.Stderr, "softkms: recovered:", r)
			_ = handler.WriteErrorResponse(stdout, fmt.Errorf("malformed request for %s: %v", args.MethodName, r))
			code = 1
		}
	}()
	kms := KMS{Path: args.InitOptions.KeyResourceID, HashFunc: args.InitOptions.HashFunc}
	if _, err := handler.Dispatch(stdout, stdin, args, kms); err != nil {
		fmt.Fprintln(os.Stderr, "softkms:", err)
		return 1
	}
	return 0
}
