// Package packet encodes and decodes MQTT control packets for protocol
// versions 3.1, 3.1.1 and 5.0 with one set of types.
//
// Decoding reads from a [*bufio.Reader] through a [Reader], which reuses one
// value of each packet type between calls; the strings and byte slices of a
// decoded packet (topic, payload, properties) alias one buffer allocated for
// that packet alone and never written again, so they stay valid after the
// next read and may be kept without copying. Encoding appends to a caller's
// slice ([Packet.AppendTo]); [Publish.AppendHeader] encodes everything but the
// payload, so one payload can be written to many receivers without a copy.
//
// Every check made on decode cites its conformance statement in the
// specifications, e.g. [MQTT-3.3.2-2]; failures are [*Error] values carrying
// the MQTT 5 reason code a server answers with, the field and the byte offset.
//
// The package imports only the standard library.
package packet
