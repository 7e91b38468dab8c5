// Publishing: the dialog (semantic diff against what runs on the entry, a release note) and
// the version history with rollback.

import { useEffect, useState } from "react";
import { api, ApiError } from "../api";
import type { Problem } from "../api";
import { formatTime, message, useLang, useT } from "../i18n";

interface Entry {
  entry: string;
  flow_id: string;
  version: number;
}

interface Change {
  kind: string;
  node: string | null;
  severity: string;
  message_zh: string;
  message_en: string;
}

export function PublishDialog({
  flowId,
  revision,
  onClose,
  onPublished,
}: {
  flowId: string;
  revision: number;
  onClose: () => void;
  onPublished: () => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [entry, setEntry] = useState("");
  const [note, setNote] = useState("");
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [diffState, setDiffState] = useState<"idle" | "loading" | "first" | "error">("idle");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [blocking, setBlocking] = useState<Problem[]>([]);
  const [done, setDone] = useState<{ entry: string; version: number; warnings: Problem[] } | null>(null);

  useEffect(() => {
    api
      .get<{ entries: Entry[] }>("/api/entries")
      .then((r) => {
        setEntries(r.entries);
        const mine = r.entries.find((e) => e.flow_id === flowId);
        if (mine) setEntry(mine.entry);
      })
      .catch((e) => setError(e instanceof ApiError ? e.text(lang) : String(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId]);

  const current = entries?.find((e) => e.entry === entry.trim());

  useEffect(() => {
    if (!entries) return;
    const name = entry.trim();
    if (!name) {
      setChanges(null);
      setDiffState("idle");
      return;
    }
    if (!current) {
      setChanges(null);
      setDiffState("first");
      return;
    }
    setDiffState("loading");
    const timer = window.setTimeout(() => {
      api
        .get<{ changes: Change[] }>(
          `/api/flows/${encodeURIComponent(flowId)}/diff?from=${encodeURIComponent(`live:${name}`)}&to=draft`,
        )
        .then((r) => {
          setChanges(r.changes);
          setDiffState("idle");
        })
        .catch(() => setDiffState("error"));
    }, 250);
    return () => window.clearTimeout(timer);
  }, [entry, entries, current, flowId]);

  const publish = async () => {
    const name = entry.trim();
    if (!name) {
      setError(t("publish.noEntry"));
      return;
    }
    setBusy(true);
    setError("");
    setBlocking([]);
    try {
      const r = await api.post<{ entry: string; version: number; warnings: Problem[] }>(
        `/api/flows/${encodeURIComponent(flowId)}/publish`,
        { entry: name, message: note, base_revision: revision },
      );
      setDone(r);
      onPublished();
    } catch (e) {
      if (e instanceof ApiError) {
        setError(e.text(lang));
        setBlocking((e.body.problems || []).filter((p: Problem) => p.severity === "error"));
      } else setError(String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="modal-backdrop">
      <div className="modal" role="dialog" aria-modal="true" data-testid="publish-dialog">
        <h2>{t("publish.title")}</h2>
        {done ? (
          <>
            <p className="success" data-testid="publish-done">
              {t("publish.done", { entry: done.entry, version: done.version })}
            </p>
            {done.warnings.length > 0 && (
              <>
                <p>{t("publish.warnings")}</p>
                <ul className="problem-list">
                  {done.warnings.map((p, i) => (
                    <li key={i} className="sev-warning">
                      {message(lang, p)}
                    </li>
                  ))}
                </ul>
              </>
            )}
            <div className="row-buttons end">
              <button type="button" className="primary" data-testid="publish-close" onClick={onClose}>
                {t("app.close")}
              </button>
            </div>
          </>
        ) : (
          <>
            <label className="field">
              <span>{t("publish.entry")}</span>
              <input
                data-testid="publish-entry"
                list="publish-entries"
                value={entry}
                onChange={(e) => setEntry(e.target.value)}
                placeholder="12329"
              />
              <datalist id="publish-entries">
                {(entries || []).map((e) => (
                  <option key={e.entry} value={e.entry}>
                    {e.flow_id} v{e.version}
                  </option>
                ))}
              </datalist>
            </label>
            {current && current.flow_id !== flowId && (
              <p className="warning">{t("publish.otherFlow", { entry: current.entry, flow: current.flow_id })}</p>
            )}
            <div className="diff" data-testid="publish-diff">
              <h4>{t("publish.diff")}</h4>
              {diffState === "loading" && <p className="muted">{t("publish.loadingDiff")}</p>}
              {diffState === "first" && <p className="muted">{t("publish.first")}</p>}
              {diffState === "idle" && changes && changes.length === 0 && <p className="muted">{t("publish.noDiff")}</p>}
              {diffState === "idle" && changes && changes.length > 0 && (
                <ul className="change-list">
                  {changes.map((c, i) => (
                    <li key={i} className={`change sev-${c.severity}`} data-testid="diff-change">
                      {message(lang, c)}
                    </li>
                  ))}
                </ul>
              )}
            </div>
            <label className="field">
              <span>{t("publish.message")}</span>
              <textarea
                data-testid="publish-message"
                rows={2}
                value={note}
                placeholder={t("publish.messageHint")}
                onChange={(e) => setNote(e.target.value)}
              />
            </label>
            {error && (
              <div className="field-error" data-testid="publish-error">
                {blocking.length > 0 ? t("publish.blocked") : error}
              </div>
            )}
            {blocking.length > 0 && (
              <ul className="problem-list">
                {blocking.map((p, i) => (
                  <li key={i} className="sev-error">
                    {p.node ? `${p.node}: ` : ""}
                    {message(lang, p)}
                  </li>
                ))}
              </ul>
            )}
            <div className="row-buttons end">
              <button type="button" onClick={onClose}>
                {t("app.cancel")}
              </button>
              <button type="button" className="primary" data-testid="publish-submit" disabled={busy} onClick={publish}>
                {busy ? t("publish.busy") : t("publish.submit")}
              </button>
            </div>
          </>
        )}
      </div>
    </div>
  );
}

interface Version {
  version: number;
  message: string;
  author: string;
  created_at: string;
  live_on: string[];
}

export function HistoryPanel({ flowId, canPublish, refresh }: { flowId: string; canPublish: boolean; refresh: number }) {
  const t = useT();
  const { lang } = useLang();
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [entries, setEntries] = useState<Entry[]>([]);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let cancelled = false;
    Promise.all([
      api.get<{ versions: Version[] }>(`/api/flows/${encodeURIComponent(flowId)}/versions`),
      api.get<{ entries: Entry[] }>("/api/entries"),
    ])
      .then(([v, e]) => {
        if (cancelled) return;
        setVersions(v.versions);
        setEntries(e.entries.filter((x) => x.flow_id === flowId));
      })
      .catch((e) => !cancelled && setError(e instanceof ApiError ? e.text(lang) : String(e)));
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId, refresh, tick]);

  const [confirming, setConfirming] = useState<{ entry: string; version: number } | null>(null);

  const rollback = async (entry: string, version: number) => {
    setConfirming(null);
    setError("");
    try {
      await api.post(`/api/entries/${encodeURIComponent(entry)}/rollback`, { version });
      setNotice(t("history.rolledBack", { entry, version }));
      setTick((x) => x + 1);
    } catch (e) {
      setError(e instanceof ApiError ? e.text(lang) : String(e));
    }
  };

  return (
    <div className="history" data-testid="history">
      <h3>{t("history.title")}</h3>
      {notice && (
        <p className="success" data-testid="history-notice">
          {notice}
        </p>
      )}
      {error && <p className="field-error">{error}</p>}
      {versions && versions.length === 0 && <p className="muted">{t("history.none")}</p>}
      {versions && versions.length > 0 && (
        <ul className="versions">
          {versions.map((v) => (
            <li key={v.version} data-testid={`version-${v.version}`}>
              <div className="version-head">
                <strong>
                  {t("history.version")} {v.version}
                </strong>
                {v.live_on.map((e) => (
                  <span key={e} className="pill live">
                    {t("history.live")} {e}
                  </span>
                ))}
              </div>
              <div className="muted small">
                {v.author} · {formatTime(lang, v.created_at)}
              </div>
              {v.message && <div className="version-message">{v.message}</div>}
              {canPublish &&
                entries
                  .filter((e) => e.version !== v.version)
                  .map((e) => (
                    <button
                      key={e.entry}
                      type="button"
                      className="small"
                      data-testid={`rollback-${e.entry}-${v.version}`}
                      onClick={() => setConfirming({ entry: e.entry, version: v.version })}
                    >
                      {t("history.rollback")}（{e.entry}）
                    </button>
                  ))}
              {confirming && confirming.version === v.version && (
                <div className="confirm" data-testid="rollback-confirm">
                  <span>{t("history.rollbackOn", confirming)}</span>
                  <button
                    type="button"
                    className="primary small"
                    data-testid="rollback-ok"
                    onClick={() => rollback(confirming.entry, confirming.version)}
                  >
                    {t("app.ok")}
                  </button>
                  <button type="button" className="small" onClick={() => setConfirming(null)}>
                    {t("app.cancel")}
                  </button>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
