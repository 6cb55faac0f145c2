package declared

import (
	"log/slog"
	"sort"
	"strings"

	"serverlab/boomer"
)

// Serve makes b ask each master it connects to for its declared classes,
// and run them: b's classes become the master's declared ones plus base
// (classes written in Go). What cannot run is logged once per master and
// told to the master, which logs it too. b should be made with
// Options.AwaitClasses, so that no spawn runs before the classes are
// known.
func Serve(b *boomer.Boomer, base []*boomer.UserClass, opts Options, log *slog.Logger) {
	b.OnConnected(func() {
		if err := b.SendMessage(MsgRequest, map[string]any{"version": Version}); err != nil {
			log.Warn("cannot ask the master for its declared classes", "err", err)
		}
	})
	b.RegisterMessage(MsgSpec, func(data any) {
		spec, err := Parse(data)
		if err != nil {
			log.Error("the master's declared classes are unusable", "err", err)
			spec = &Spec{Version: Version}
		}
		classes, unsupported := spec.UserClasses(opts)
		classes = append(classes, base...)
		if err := b.SetClasses(classes, unsupported); err != nil {
			log.Error("cannot use the master's declared classes", "err", err)
			return
		}
		names := make([]string, len(classes))
		for i, c := range classes {
			names[i] = c.Name
		}
		sort.Strings(names)
		if len(unsupported) > 0 {
			log.Warn("this worker cannot run some of the master's classes; it runs the others",
				"cannot_run", Describe(unsupported), "runs", strings.Join(names, ", "))
		} else {
			log.Info("running the master's declared classes", "classes", strings.Join(names, ", "))
		}
		why := map[string]any{}
		for k, v := range unsupported {
			why[k] = v
		}
		list := make([]any, len(names))
		for i, n := range names {
			list[i] = n
		}
		if err := b.SendMessage(MsgReport, map[string]any{"classes": list, "unsupported": why}); err != nil {
			log.Warn("cannot tell the master which classes run here", "err", err)
		}
	})
}

// Describe lists classes and reasons in one line, sorted by name.
func Describe(unsupported map[string]string) string {
	names := make([]string, 0, len(unsupported))
	for n := range unsupported {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " (" + unsupported[n] + ")"
	}
	return strings.Join(parts, "; ")
}
