// Package topics is the broker's subscription index: a trie of topic levels
// with a slot for '+' and one for '#' at every node, matched by callback so
// that routing a message allocates nothing.
//
// The shape follows nats-server's sublist (level{nodes, pwc, fwc}). It is
// built so that flespi's extensions slot in without a rewrite:
//   - topic selectors ("a,b" in a level) become a third kind of child,
//     a small list of (word set, node) pairs tried after the literal child;
//   - sticky shared groups ("$share/g:from:count/...") are a SharedGroup
//     with a fingerprint policy instead of round robin (see [SharedGroup]);
//   - "$filter/..." and "cid" are per-[Subscription] predicates, evaluated
//     by the broker after the trie walk, so matching cost is unchanged;
//   - wildcard deletion of retained messages walks the retained trie with
//     the same [Split] levels.
package topics
