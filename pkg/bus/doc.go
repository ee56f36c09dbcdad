// Package bus carries classified session rows from many sensors to central
// scanalert instances through a broker's log, behind one small transport
// interface (Publisher, Subscription) so that the broker can change: NATS
// JetStream is package natsbus; a Kafka adapter would map a subject to a
// topic and partition, a durable consumer to a consumer group's offset.
//
// # Subjects
//
// A sensor publishes its rows to RowSubject(sensor, bucket), one subject
// tree per sensor, where the bucket (0..Buckets-1) is a hash of the row's
// source subnet (/24, IPv6 /64): every row of one source, and of one
// subnet, lands in the same bucket whichever sensor saw it. A central
// instance i of n consumes the buckets [i*Buckets/n, (i+1)*Buckets/n) of
// every sensor (InstanceSubjects), so each scanner's rows, and each
// subnet's, meet in one place. Every sensor's heartbeat (ClockSubject)
// goes to every instance.
//
// # Sensors (Sensor)
//
// Sensor takes rows from a pipe and never blocks it: rows wait in a
// bounded queue, and a row that finds it full is dropped and counted, so a
// slow broker makes the upstream pcapsess neither block nor lose packets
// unseen. Rows go out as NDJSON, a few to a message (per bucket, up to
// BatchRows or Linger), with an id per message so that a retry after a
// broker fault is stored once. Every ClockEvery a heartbeat carries the
// sensor's packet-time clock (the last row's end plus the wall time
// since) and its counts: rows read, dropped, published, failed.
//
// # Central instances (Input)
//
// Input reads a Subscription (a durable cursor), merges the rows in packet
// time (package eventtime) and hands them to the rule. A message is
// acknowledged once all of its rows have gone through the rule, and
// acknowledgements are cumulative, so the log's acknowledged floor is
// exactly the point up to which the rule has seen everything. After a
// restart the rule's state is rebuilt by replaying the log up to the floor
// (Replay) with its records marked as already sent, then the cursor goes
// on after the floor: the same records as a run that never stopped, since
// the merge and the rule depend on the log's order alone.
package bus
