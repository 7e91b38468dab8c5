// Entries (/entries): which number runs which flow version, its recent history, roll back to
// a version, the publishing policy "require approved recordings", delete an entry (admin).

import { useEffect, useState } from "react";
import { api, ApiError } from "../api";
import type { Session } from "../api";
import { formatTime, useLang, useT } from "../i18n";
import type { Key } from "../i18n";

/** A notice kept as key and values: it follows a language switch. */
type Notice = { key: Key; vars: Record<string, string | number> } | null;

interface Change {
  action: string;
  from_version: number | null;
  to_version: number;
  author: string;
  message: string;
  at: string;
}

interface EntryRow {
  entry: string;
  flow_id: string;
  version: number;
  updated_at: string;
  updated_by: string;
  history: Change[];
}

interface Version {
  version: number;
  author: string;
  created_at: string;
  message: string;
}

const HISTORY_SHOWN = 5;

function EntryCard({
  row,
  versions,
  requireApproved,
  canManage,
  canPublish,
  onOpenFlow,
  onChanged,
  onDeleted,
  onPolicy,
}: {
  row: EntryRow;
  versions: Version[];
  requireApproved: boolean | undefined;
  canManage: boolean;
  canPublish: boolean;
  onOpenFlow: (id: string) => void;
  onChanged: (notice: Notice) => void;
  onDeleted: (notice: Notice) => void;
  onPolicy: (on: boolean, notice: Notice) => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const [target, setTarget] = useState("");
  const [confirm, setConfirm] = useState<"" | "rollback" | "delete">("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [allHistory, setAllHistory] = useState(false);
  const others = versions.filter((v) => v.version !== row.version);
  const id = row.entry;
  const fail = (e: unknown) => setError(e instanceof ApiError ? e.text(lang) : String(e));

  const setPolicy = async (on: boolean) => {
    setBusy(true);
    setError("");
    onPolicy(on, null); // shown at once, taken back if the server refuses
    try {
      const r = await api.put<{ require_approved: boolean }>(`/api/entries/${encodeURIComponent(id)}/policy`, {
        require_approved: on,
      });
      onPolicy(r.require_approved, { key: r.require_approved ? "entries.policyOn" : "entries.policyOff", vars: { entry: id } });
    } catch (e) {
      onPolicy(!on, null);
      fail(e);
    } finally {
      setBusy(false);
    }
  };

  const rollback = async () => {
    setConfirm("");
    setBusy(true);
    setError("");
    try {
      const version = Number(target);
      await api.post(`/api/entries/${encodeURIComponent(id)}/rollback`, { version });
      setTarget("");
      onChanged({ key: "history.rolledBack", vars: { entry: id, version } });
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setConfirm("");
    setBusy(true);
    setError("");
    try {
      await api.del(`/api/entries/${encodeURIComponent(id)}`);
      onDeleted({ key: "entries.deleted", vars: { entry: id } });
    } catch (e) {
      fail(e);
      setBusy(false);
    }
  };

  const history = allHistory ? row.history : row.history.slice(0, HISTORY_SHOWN);

  return (
    <section className="entry-card" data-testid={`entry-${id}`}>
      <div className="entry-head">
        <h3>
          <code>{id}</code>
        </h3>
        <span className="pill live" data-testid={`entry-version-${id}`}>
          {t("entries.runs", { flow: row.flow_id, version: row.version })}
        </span>
        <button type="button" className="link" onClick={() => onOpenFlow(row.flow_id)}>
          {t("entries.openFlow")}
        </button>
        <div className="spacer" />
        <span className="muted small">
          {t("entries.updated", { who: row.updated_by || "—", when: formatTime(lang, row.updated_at) })}
        </span>
      </div>

      <label className="policy" title={t("entries.policyHint")}>
        <input
          type="checkbox"
          data-testid={`policy-${id}`}
          checked={!!requireApproved}
          disabled={!canManage || busy || requireApproved === undefined}
          onChange={(e) => setPolicy(e.target.checked)}
        />
        <span>{t("entries.policy")}</span>
      </label>
      <div className="muted small">{t("entries.policyHint")}</div>

      <div className="entry-actions">
        {canPublish &&
          (others.length === 0 ? (
            <span className="muted small">{t("entries.noOther")}</span>
          ) : (
            <>
              <span className="small">{t("entries.rollbackTo")}</span>
              <select
                data-testid={`rollback-version-${id}`}
                value={target}
                onChange={(e) => {
                  setTarget(e.target.value);
                  setConfirm("");
                }}
              >
                <option value="">{t("entries.chooseVersion")}</option>
                {others.map((v) => (
                  <option key={v.version} value={v.version}>
                    {t("entries.versionOption", { version: v.version, author: v.author, when: formatTime(lang, v.created_at) })}
                    {v.message ? ` · ${v.message}` : ""}
                  </option>
                ))}
              </select>
              <button
                type="button"
                className="small"
                disabled={!target || busy}
                data-testid={`rollback-${id}`}
                onClick={() => setConfirm("rollback")}
              >
                {t("entries.rollback")}
              </button>
            </>
          ))}
        <div className="spacer" />
        {canManage && (
          <button type="button" className="small danger" data-testid={`delete-${id}`} disabled={busy} onClick={() => setConfirm("delete")}>
            {t("entries.delete")}
          </button>
        )}
      </div>
      {confirm && (
        <div className="confirm" data-testid={`confirm-${id}`}>
          <span>
            {confirm === "rollback"
              ? t("history.rollbackOn", { entry: id, version: target })
              : t("entries.deleteConfirm", { entry: id })}
          </span>
          <button
            type="button"
            className={confirm === "delete" ? "small danger" : "primary small"}
            data-testid={`confirm-ok-${id}`}
            onClick={confirm === "rollback" ? rollback : remove}
          >
            {t("app.ok")}
          </button>
          <button type="button" className="small" onClick={() => setConfirm("")}>
            {t("app.cancel")}
          </button>
        </div>
      )}
      {error && (
        <p className="field-error" data-testid={`entry-error-${id}`}>
          {error}
        </p>
      )}

      {row.history.length > 0 && (
        <div className="entry-history">
          <div className="small strong">{t("entries.history")}</div>
          <ul data-testid={`entry-history-${id}`}>
            {history.map((h, i) => {
              const vars = { from: h.from_version ?? "—", to: h.to_version, action: h.action };
              const key =
                h.from_version == null
                  ? "entries.action.first"
                  : h.action === "publish" || h.action === "rollback"
                    ? (`entries.action.${h.action}` as const)
                    : "entries.action.other";
              return (
                <li key={i}>
                  <span>{t(key, vars)}</span>
                  <span className="muted small">
                    {" "}
                    · {h.author} · {formatTime(lang, h.at)}
                  </span>
                  {h.message && <span className="small"> · {h.message}</span>}
                </li>
              );
            })}
          </ul>
          {!allHistory && row.history.length > HISTORY_SHOWN && (
            <button type="button" className="link small" onClick={() => setAllHistory(true)}>
              {t("entries.showAll", { n: row.history.length })}
            </button>
          )}
        </div>
      )}
    </section>
  );
}

export function Entries({ session, onOpenFlow }: { session: Session; onOpenFlow: (id: string) => void }) {
  const t = useT();
  const { lang } = useLang();
  const canManage = session.user.permissions.includes("entries.manage");
  const canPublish = session.user.permissions.includes("flows.publish");
  const [entries, setEntries] = useState<EntryRow[] | null>(null);
  const [versions, setVersions] = useState<Record<string, Version[]>>({});
  const [policies, setPolicies] = useState<Record<string, boolean>>({});
  const [error, setError] = useState("");
  const [notice, setNotice] = useState<Notice>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const r = await api.get<{ entries: EntryRow[] }>("/api/entries");
        if (cancelled) return;
        setEntries(r.entries);
        const flowIds = [...new Set(r.entries.map((e) => e.flow_id))];
        const [vs, ps] = await Promise.all([
          Promise.all(flowIds.map((f) => api.get<{ versions: Version[] }>(`/api/flows/${encodeURIComponent(f)}/versions`))),
          Promise.all(
            r.entries.map((e) => api.get<{ require_approved: boolean }>(`/api/entries/${encodeURIComponent(e.entry)}/policy`)),
          ),
        ]);
        if (cancelled) return;
        setVersions(Object.fromEntries(flowIds.map((f, i) => [f, vs[i].versions])));
        setPolicies(Object.fromEntries(r.entries.map((e, i) => [e.entry, ps[i].require_approved])));
        setError("");
      } catch (e) {
        if (!cancelled) setError(e instanceof ApiError ? e.text(lang) : String(e));
      }
    })();
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tick]);

  const changed = (text: Notice) => {
    setNotice(text);
    setTick((x) => x + 1);
  };

  return (
    <div className="flow-list entries" data-testid="entries">
      <div className="page-head">
        <h2>{t("entries.title")}</h2>
      </div>
      <p className="muted intro">{t("entries.intro")}</p>
      {!canManage && <p className="warning small">{t("entries.readOnly")}</p>}
      {notice && (
        <p className="success" data-testid="entries-notice">
          {t(notice.key, notice.vars)}
        </p>
      )}
      {error && <p className="field-error">{error}</p>}
      {entries === null && !error && <p className="muted">{t("app.loading")}</p>}
      {entries && entries.length === 0 && <p className="muted">{t("entries.none")}</p>}
      {entries?.map((row) => (
        <EntryCard
          key={`${row.entry}:${row.version}:${row.updated_at}`}
          row={row}
          versions={versions[row.flow_id] || []}
          requireApproved={policies[row.entry]}
          canManage={canManage}
          canPublish={canPublish}
          onOpenFlow={onOpenFlow}
          onChanged={changed}
          onDeleted={changed}
          onPolicy={(on, text) => {
            setPolicies((p) => ({ ...p, [row.entry]: on }));
            if (text) setNotice(text);
          }}
        />
      ))}
    </div>
  );
}
