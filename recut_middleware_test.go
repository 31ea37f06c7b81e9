package alipaynotify_test

// The middleware half of the issue 13 property: across a genuine message and
// all its re-cuts, the business handler runs at most once. It lives in the
// root package's external tests (which may import middleware) so that it
// shares the re-cut enumerator of recut_test.go. Expected to fail on main
// until issue 13 is fixed.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// recutServer is a merchant behind the middleware, with a fresh in-memory
// store, counting business handler runs.
type recutServer struct {
	mux  *http.ServeMux
	runs atomic.Int64
	last atomic.Pointer[alipaynotify.Event]
}

// newRecutServer serves /notify and /return with v and a fresh in-memory
// store; the business handler counts its runs and remembers the last event.
func newRecutServer(t *testing.T, v *alipaynotify.Verifier) *recutServer {
	t.Helper()
	mw, err := middleware.New(middleware.Options{
		Verifier: v,
		Store:    dedupe.NewMemoryStore(),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &recutServer{mux: http.NewServeMux()}
	business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		e := n.Event()
		s.last.Store(&e)
		s.runs.Add(1)
		return nil
	})
	s.mux.Handle("/notify", mw.Notify(business))
	s.mux.Handle("/return", mw.Return(business, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "thanks")
	})))
	return s
}

// deliver sends params in charset as kind: a form POST to /notify or a GET
// of /return with the query.
func (s *recutServer) deliver(t *testing.T, p *alipaytest.WireParams, charset string, kind alipaytest.Kind) {
	t.Helper()
	body, err := alipaytest.Encode(p, charset)
	if err != nil {
		t.Fatal(err)
	}
	var r *http.Request
	if kind == alipaytest.ReturnKind {
		r = httptest.NewRequest(http.MethodGet, "/return?"+string(body), nil)
	} else {
		r = httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	s.mux.ServeHTTP(httptest.NewRecorder(), r)
}

// recutEventKeys are the parameters the event identity and the dedupe key
// read (alipaynotify.Event, dedupe.EventFor): the only appended empties the
// middleware test sends, since the property test already checks that no
// appended empty changes anything.
var recutEventKeys = []string{"app_id", "partner", "out_trade_no", "trade_status", "refund_status", "out_biz_no",
	"gmt_refund", "refund_fee", "notify_type", "notify_id", "trade_no", "method", "is_success"}

// recutMiddlewareSkips are stories the middleware test leaves to the
// property test: sign-type and charset variants of stories it already
// delivers (the dedupe does not depend on how a message was signed).
var recutMiddlewareSkips = []string{"open-rsa/", "open-cert/", "legacy-md5-gbk/"}

// TestRecutMiddlewareOnce delivers each story's genuine message, then every
// re-cut of it (appended empties only for recutEventKeys; stories in
// recutMiddlewareSkips left out), through the middleware's Notify and Return routes (in-memory
// store): the business handler must run exactly once in all (never, for a
// reverse story whose genuine message is refused as ambiguous). Failures name
// the re-cuts that ran it again and the event each claimed.
func TestRecutMiddlewareOnce(t *testing.T) {
	k := recutTestKit(t)
	var extraRuns, stories atomic.Int64
	t.Cleanup(func() {
		if n := extraRuns.Load(); n > 0 {
			t.Errorf("issue 13: %d extra business handler runs across %d stories with re-runs", n, stories.Load())
		}
	})
	for si, s := range k.stories {
		if slices.ContainsFunc(recutMiddlewareSkips, func(p string) bool { return strings.HasPrefix(s.name, p) }) {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecutServer(t, k.verifier(s))
			srv.deliver(t, s.msg.Params, s.msg.Charset, s.msg.Kind)
			// A reverse story the verifier refuses as ambiguous runs nothing;
			// its one other reading may then run the handler, once.
			want, allowed := int64(1), 1
			genuine := "refused: " + fmt.Sprint(k.genuineErr[si])
			if k.genuine[si] != nil {
				genuine = k.genuine[si].Event().String()
			} else if s.group != "" {
				want = 0
			}
			if got := srv.runs.Load(); got != want {
				t.Fatalf("story %s: the genuine %s ran the handler %d times, want %d (verifier: %s)", s.name, recutKindName(s.msg.Kind), got, want, genuine)
			}
			var reruns []string
			for _, vr := range recutEnumerate(s, k.libraryKeys, s.group != "") {
				if vr.class == "empty" && !slices.ContainsFunc(recutEventKeys, func(key string) bool { return strings.HasPrefix(vr.desc, key+"= ") }) {
					continue
				}
				before := srv.runs.Load()
				srv.deliver(t, vr.params, s.msg.Charset, vr.kind)
				if srv.runs.Load() > before {
					reruns = append(reruns, fmt.Sprintf("%s re-cut (%s) as %s ran it for event %q", vr.class, vr.desc, recutKindName(vr.kind), srv.last.Load().String()))
				}
			}
			if int(want)+len(reruns) <= allowed {
				return
			}
			extraRuns.Add(int64(len(reruns)))
			stories.Add(1)
			show := 3
			if *recutAll {
				show = len(reruns)
			}
			msg := fmt.Sprintf("story %s (event %q): the business handler ran %d times, want at most %d:", s.name, genuine, int(want)+len(reruns), allowed)
			for i, r := range reruns {
				if i == show {
					msg += fmt.Sprintf("\n  ... and %d more", len(reruns)-show)
					break
				}
				msg += "\n  " + r
			}
			t.Error(msg)
		})
	}
}
