"""Verification: recompute what was sealed and name every difference.

Two sources of seals are compared: the store's (``seals``, ``seal_leaves``) and the seal folder's
files. A seal counts when its signature holds under a listed public key; the chain is then walked
by the seals' own ``seq``: each must follow its predecessor (``prev``, contiguous periods). Rows are
checked in the engine against the sealed leaves (ccaudit.seal.store.SealStore.check_rows). A seal
whose stored leaves do not give its root is checked against its folder file's leaves instead, so a
row removed together with its seal and leaves is still named.

:func:`verify_export` does the same from a JSON Lines export and the folder alone, in any process:
it imports nothing of the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccaudit.seal import canonical as cf
from ccaudit.seal import keys, merkle
from ccaudit.seal.seals import GENESIS, Leaf, Seal, SealFile, chains, folder_seals

if TYPE_CHECKING:
    from ccaudit.seal.store import SealStore

Progress = Callable[[str, int, int], None]
# Leaves checked in one query of the engine.
CHECK_ROWS = 2_000_000
# Row verdicts that are no finding: gone by its retention, or changed by ccaudit and recorded so
# (ccaudit.seal.changes); the report counts them.
CLEAN = ("expired", "erased", "erased_deleted", "retention_changed")
# A chain's latest seal whose file is missing and that was made this recently is still being written.
PENDING_MS = 60_000


@dataclass
class Report:
    """What verification found. ``findings`` empty means everything checked holds."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    chains: list[dict[str, Any]] = field(default_factory=list)
    # What ccaudit itself changed in sealed rows, per operation (ccaudit.seal.changes).
    accounted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, platform: str, stream: str, **detail: Any) -> None:
        self.findings.append({"kind": kind, "platform": platform, "stream": stream, **detail})

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def kinds(self) -> set[str]:
        return {f["kind"] for f in self.findings}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "findings": self.findings, "counts": self.counts, "chains": self.chains,
            "accounted": self.accounted,
        }  # fmt: skip


@dataclass(frozen=True)
class TrustedHead:
    platform: str
    stream: str
    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> TrustedHead:
        """``<platform>/<stream>:<seq>:<hash>``."""
        try:
            chain, seq, digest = text.split(":")
            platform, stream = chain.split("/")
            return cls(platform, stream, int(seq), digest.lower())
        except ValueError:
            raise ValueError(f"a trusted head is <platform>/<stream>:<seq>:<hash>, not {text!r}") from None


@dataclass(frozen=True)
class _Candidate:
    seal: Seal
    signature: str
    where: str  # "store" or "folder"
    slot: int  # the seq it is stored under (row column or file name)


def _check_signature(
    report: Report, platform: str, stream: str, where: str, slot: int, payload: str, signature: str,
    public: dict[str, str],
) -> Seal | None:  # fmt: skip
    try:
        seal = Seal.from_payload(payload)
    except (ValueError, KeyError, TypeError) as exc:
        report.add("seal_altered", platform, stream, seq=slot, where=where, detail=f"unreadable payload: {exc}")
        return None
    key = public.get(seal.key_id)
    if key is None:
        report.add("unknown_key", platform, stream, seq=slot, where=where, key_id=seal.key_id)
        return None
    if not keys.verify_signature(key, seal.payload(), signature) or seal.payload().decode() != payload:
        report.add("seal_altered", platform, stream, seq=slot, where=where, detail="signature does not hold")
        return None
    if (seal.platform, seal.stream) != (platform, stream):
        report.add("seal_altered", platform, stream, seq=slot, where=where,
                   detail=f"names chain {seal.platform}/{seal.stream}")  # fmt: skip
        return None
    if seal.seq != slot:
        report.add("seal_reordered", platform, stream, seq=slot, where=where, payload_seq=seal.seq)
    return seal


def _walk_chain(
    report: Report, platform: str, stream: str, stored: dict[int, _Candidate], filed: dict[int, _Candidate],
    heads: Sequence[TrustedHead], now_ms: int,
) -> list[_Candidate]:  # fmt: skip
    """The chain by seq, each seal from the store when it holds, else from the folder; findings for
    seals missing on either side, differing, out of chain or against a trusted head."""
    chain: list[_Candidate] = []
    last = max([*stored, *filed], default=0)
    previous: Seal | None = None
    for seq in range(1, last + 1):
        s, f = stored.get(seq), filed.get(seq)
        if s is None and f is None:
            report.add("seal_missing", platform, stream, seq=seq, where="store and folder")
            previous = None
            continue
        if s is None:
            report.add("seal_missing", platform, stream, seq=seq, where="store")
        if f is None and s is not None and seq == last and s.seal.sealed_at_ms > now_ms - PENDING_MS:
            # The sealer stores a seal, then writes its file: a seal made a moment ago may be between.
            report.count("seals_pending")
        elif f is None:
            report.add("folder_mismatch", platform, stream, seq=seq, detail="no file in the seal folder")
        elif s is not None and s.seal.payload() != f.seal.payload():
            report.add("folder_mismatch", platform, stream, seq=seq, detail="the file's seal differs from the store's")
        chosen = s if s is not None else f
        assert chosen is not None
        seal = chosen.seal
        if previous is not None:
            if seal.prev != previous.hash():
                report.add("chain_broken", platform, stream, seq=seq, detail="prev is not the previous seal's hash")
            if seal.period_start_ms != previous.period_end_ms:
                report.add("seal_missing", platform, stream, seq=seq, where="period",
                           detail=f"period gap {previous.period_end_ms}..{seal.period_start_ms}")  # fmt: skip
        elif seq == 1 and seal.prev != GENESIS:
            report.add("chain_broken", platform, stream, seq=seq, detail="the first seal names a predecessor")
        chain.append(chosen)
        previous = seal
    by_seq = {c.seal.seq: c.seal for c in chain}
    for head in heads:
        if (head.platform, head.stream) != (platform, stream):
            continue
        held = by_seq.get(head.seq)
        if held is None or held.hash() != head.hash:
            report.add("trusted_head_mismatch", platform, stream, seq=head.seq, expected=head.hash,
                       found=held.hash() if held else None)  # fmt: skip
    return chain


def _candidates(
    report: Report, platform: str, stream: str, items: Iterable[tuple[int, str, str]], where: str,
    public: dict[str, str],
) -> dict[int, _Candidate]:  # fmt: skip
    out: dict[int, _Candidate] = {}
    for slot, payload, signature in items:
        seal = _check_signature(report, platform, stream, where, slot, payload, signature, public)
        if seal is not None:
            out.setdefault(seal.seq, _Candidate(seal, signature, where, slot))
    return out


def _slot(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        return -1


def _in_range(seal: Seal, start: int | None, end: int | None) -> bool:
    return (start is None or seal.period_end_ms > start) and (end is None or seal.period_start_ms < end)


def load_public_keys(*paths: Path) -> dict[str, str]:
    """Key id → public key (hex), from every ``public-keys.json`` given that exists."""
    out: dict[str, str] = {}
    for path in paths:
        out.update(keys.read_public_keys(path))
    return out


def verify_store(
    store: SealStore,
    folder: Path,
    public: dict[str, str],
    *,
    platform: str | None = None,
    stream: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    heads: Sequence[TrustedHead] = (),
    now_ms: int,
    progress: Progress | None = None,
) -> Report:
    """Verify the store's rows and seals, and the folder's seal files, and name what differs."""
    report = Report()
    names = sorted(set(store.chains()) | set(chains(folder)))
    # The change records account for erased, deleted and re-retained rows of every chain: whatever
    # chains are asked for, theirs is verified too.
    names = [
        (p, s) for p, s in names
        if ((platform is None or p == platform) and (stream is None or s == stream)) or s == cf.CHANGES.stream
    ]  # fmt: skip
    for done, (p, s) in enumerate(names):
        if progress is not None:
            progress(f"{p}/{s}", done, len(names))
        form = cf.STREAMS.get(s)
        if form is None:
            report.add("seal_altered", p, s, detail="a chain of an unknown stream")
            continue
        stored = _candidates(
            report, p, s, ((x.seq, x.payload, x.signature) for x in store.stored_seals(p, s)), "store", public
        )
        files = {f.path: f for f in folder_seals(folder, p, s)}
        filed = _candidates(report, p, s, ((_slot(k), f.payload, f.signature) for k, f in files.items()), "folder",
                            public)  # fmt: skip
        file_of = {_slot(k): f for k, f in files.items()}
        chain = [
            c for c in _walk_chain(report, p, s, stored, filed, heads, now_ms) if _in_range(c.seal, start_ms, end_ms)
        ]
        summary: dict[str, Any] = {"platform": p, "stream": s, "seals": len(chain)}
        report.chains.append(summary)
        report.count("seals_checked", len(chain))
        if not chain:
            continue
        # Rows are checked a stretch of seals at a time (about CHECK_ROWS leaves): the engine's join
        # holds one stretch, however long the chain.
        for stretch in _stretches(chain):
            stored_seqs: list[int] = []
            other: list[tuple[int, Leaf]] = []
            for c in stretch:
                seal = c.seal
                if seal.seq in stored and store.root(p, s, seal.seq)[1] == seal.root:
                    stored_seqs.append(seal.seq)
                    continue
                if seal.seq in stored:
                    report.add("seal_altered", p, s, seq=seal.seq, where="store",
                               detail="the stored leaves do not give the seal's root")  # fmt: skip
                file = file_of.get(c.slot if c.where == "folder" else seal.seq)
                if file is not None and merkle.root([x.leaf for x in _sorted(file.leaves)]) == seal.root:
                    other.extend((seal.seq, x) for x in file.leaves)
                else:
                    report.add("seal_altered", p, s, seq=seal.seq, where="folder",
                               detail="no leaves that give the seal's root")  # fmt: skip
            part = (stretch[0].seal.period_start_ms, stretch[-1].seal.period_end_ms)
            for verdict, seq, rid in store.check_rows(form, p, part, stored_seqs, other, now_ms):
                if verdict in CLEAN:
                    report.count(verdict)
                    continue
                detail: dict[str, Any] = {"row_id": rid}
                if seq:
                    detail["seq"] = seq
                report.add(f"row_{verdict}", p, s, **detail)
        span = (chain[0].seal.period_start_ms, chain[-1].seal.period_end_ms)
        checked = store.count_rows(form, p, span[0], span[1])
        summary["rows"] = checked
        report.count("rows_checked", checked)
        if end_ms is None:
            report.count("unsealed", store.count_rows(form, p, span[1], 2**62))
    report.accounted = store.accounted(platform)
    if progress is not None:
        progress("done", len(names), len(names))
    return report


def _stretches(chain: Sequence[_Candidate]) -> list[list[_Candidate]]:
    """Consecutive seals in groups of about CHECK_ROWS leaves."""
    out: list[list[_Candidate]] = [[]]
    size = 0
    for c in chain:
        if out[-1] and size + c.seal.leaf_count > CHECK_ROWS:
            out.append([])
            size = 0
        out[-1].append(c)
        size += c.seal.leaf_count
    return [x for x in out if x]


def _sorted(leaves: Iterable[Leaf]) -> list[Leaf]:
    return sorted(leaves, key=lambda x: (x.row_id, x.leaf))


def verify_export(
    export: Path,
    folder: Path,
    public: dict[str, str],
    *,
    heads: Sequence[TrustedHead] = (),
    now_ms: int,
    progress: Progress | None = None,
) -> Report:
    """Verify a JSON Lines export of the audit trail against the seal folder, without a store."""
    report = Report()
    sealed: dict[str, tuple[str, int, Leaf]] = {}
    spans: dict[str, tuple[int, int]] = {}
    names = [(p, s) for p, s in chains(folder) if s == "audit"]
    for done, (p, s) in enumerate(names):
        if progress is not None:
            progress(f"{p}/{s}", done, len(names))
        files: list[SealFile] = list(folder_seals(folder, p, s))
        filed = _candidates(report, p, s, ((_slot(f.path), f.payload, f.signature) for f in files), "folder", public)
        chain = _walk_chain(report, p, s, {}, filed, heads, now_ms)
        # Every seal's file also stands in for the store's copy: no "missing from store" findings here.
        report.findings = [
            f for f in report.findings if not (f["kind"] == "seal_missing" and f.get("where") == "store")
        ]
        report.count("seals_checked", len(chain))
        by_slot = {_slot(f.path): f for f in files}
        for c in chain:
            file = by_slot[c.slot]
            if merkle.root([x.leaf for x in _sorted(file.leaves)]) != c.seal.root:
                report.add("seal_altered", p, s, seq=c.seal.seq, where="folder",
                           detail="the file's leaves do not give the seal's root")  # fmt: skip
                continue
            for x in file.leaves:
                sealed[x.row_id] = (p, c.seal.seq, x)
        if chain:
            spans[p] = (chain[0].seal.period_start_ms, chain[-1].seal.period_end_ms)
    seen: set[str] = set()
    with export.open() as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            rid = cf.row_id(cf.AUDIT, row)
            seen.add(rid)
            report.count("rows_checked")
            entry = sealed.get(rid)
            if entry is None:
                span = spans.get(str(row.get("platform")))
                arrived = cf.to_ms(row["received_at"])
                if span is not None and span[0] <= arrived < span[1]:
                    report.add("row_inserted", str(row.get("platform")), "audit", row_id=rid)
                else:
                    report.count("unsealed")
                continue
            p, seq, x = entry
            # The export leaves retention_days out; the sealed expiry gives it back (and binds it).
            days = (x.expires_ms - cf.to_ms(row["event_time"]) // 1000 * 1000) // cf.DAY_MS
            digest = cf.row_digest(cf.AUDIT, {**row, "retention_days": days}, x.commitment)
            if digest != x.digest or cf.leaf(rid, x.expires_ms, digest) != x.leaf:
                report.add("row_modified", p, "audit", seq=seq, row_id=rid)
    report.count("not_exported", len(set(sealed) - seen))
    if progress is not None:
        progress("done", len(names), len(names))
    return report
