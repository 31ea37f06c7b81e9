// Package exampletest holds what the Example functions of package middleware
// and of the router adapters share, so that alipaygin's and alipaymux's
// examples differ only in router code.
package exampletest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Verifier returns a verifier that accepts the callbacks of
// alipaytest.NewSigner(nil); a real merchant passes its app ID and Alipay's
// public key. It panics if the configuration is refused, which only a broken
// test kit can cause.
func Verifier() *alipaynotify.Verifier {
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
	})
	if err != nil {
		panic(err)
	}
	return v
}

// Middleware returns a middleware with Verifier's verifier and logs
// discarded. It panics if New refuses the options.
func Middleware() *middleware.Middleware {
	m, err := middleware.New(middleware.Options{Verifier: Verifier(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	return m
}

// Send plays Alipay or the buyer's browser: it sends req to h and returns the
// status and the body of the answer, as "200 success".
func Send(h http.Handler, req *http.Request) string {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return fmt.Sprint(w.Code, " ", w.Body.String())
}
