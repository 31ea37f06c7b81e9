package dedupe_test

import (
	"testing"

	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) dedupe.Store {
		store := dedupe.NewMemoryStore()
		t.Cleanup(func() {
			if err := store.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return store
	})
}

func TestMemoryStoreDeadLetters(t *testing.T) {
	t.Parallel()
	storetest.RunDeadLetters(t, func(t *testing.T, max int) dedupe.DeadLetterStore {
		store, err := dedupe.NewMemoryStoreWith(dedupe.MemoryOptions{DeadLetters: dedupe.DeadLetterOptions{Max: max}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		return store
	})
}
