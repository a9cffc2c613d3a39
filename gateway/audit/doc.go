// Package audit is the gateway's tamper-evident audit trail: proof of who
// asked for what and when. It records session starts and completions,
// callback deliveries, admin API calls and configuration reloads as
// hash-chained records in Redis Streams (through sessions.AuditLog),
// signs checkpoints with an Ed25519 audit key, exports the trail as JSON
// lines for archiving, and verifies it online or offline. The format, what
// the trail proves and what it does not are in docs/audit.md.
//
// # Protocol flow
//
//	gateway (session hot path)  Trail.Append(rec)       → bounded queue, returns at once
//	                                                      (full for EnqueueWait: dropped, counted)
//	gateway (admin API)         Trail.AppendSync(rec)   → queue, then waits: appended and
//	                                                      WAITed by a replica (or WAITAOF)
//	errgroup                    Trail.Run(ctx)          the only writer of this instance's chain:
//	  collect   up to MaxBatch records, or what came within FlushInterval (at once for AppendSync)
//	  sequence  chain id, seq, prev = SHA-256 of the previous record's canonical bytes;
//	            a chain.start first, an audit.dropped after drops, a signed checkpoint
//	            every CheckpointEvery records / CheckpointInterval
//	  append    one EVALSHA per batch: XADD each record to {a:<chain>} only if the stream
//	            still ends where the writer left it (else: new chain, the loss recorded)
//	  anchor    the latest checkpoint into the day's index {ai:<day>}
//	  midnight  final checkpoint; the next day's chain.start names the closed chain
//	  ctx done  drain the queue, final checkpoint, return
//	archive job                 Trail.Export(w, from, to)   records, end line per chain, signed seal
//	auditor                     VerifyFile(r, pub) / VerifyFileReport   offline, public key only
//	operator                    Trail.Verify(ctx, from, to)             online, over Redis
//
// A chain belongs to one writer process and one UTC day, so appends need no
// coordination and no read: the writer knows its chain's end. Chains spread
// over Cluster slots by their hash tags; a day's index lists them. A record
// holds no phone number or User ID: a phone appears only as an HMAC under
// the audit phone key and a masked form (Trail.Phone).
package audit
