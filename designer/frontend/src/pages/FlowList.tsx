import { useEffect, useState } from "react";
import { api, ApiError, request } from "../api";
import type { Session } from "../api";
import { emptyFlow, FLOW_ID_RE } from "../editor/doc";
import { formatTime, useLang, useT } from "../i18n";

interface FlowRow {
  id: string;
  name: string;
  revision: number;
  updated_at: string;
  updated_by: string;
  latest_version: number | null;
  live: { entry: string; version: number }[];
  status: "unpublished" | "published" | "modified";
}

export function FlowList({
  onOpen,
  onWorklist,
  session,
}: {
  onOpen: (id: string) => void;
  onWorklist: (id: string) => void;
  session: Session;
}) {
  const t = useT();
  const { lang } = useLang();
  const [flows, setFlows] = useState<FlowRow[] | null>(null);
  const [error, setError] = useState("");
  const [creating, setCreating] = useState(false);
  const [newId, setNewId] = useState("");
  const [newName, setNewName] = useState("");
  const [createError, setCreateError] = useState("");
  const canWrite = session.user.permissions.includes("flows.write");

  useEffect(() => {
    api
      .get<{ flows: FlowRow[] }>("/api/flows")
      .then((r) => setFlows(r.flows))
      .catch((e) => setError(e instanceof ApiError ? e.text(lang) : String(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    const id = newId.trim();
    if (!FLOW_ID_RE.test(id)) {
      setCreateError(t("list.badId"));
      return;
    }
    try {
      await request("POST", "/api/flows", emptyFlow(id, newName.trim() || id));
      onOpen(id);
    } catch (exc) {
      setCreateError(exc instanceof ApiError ? exc.text(lang) : String(exc));
    }
  };

  return (
    <div className="flow-list">
      <div className="page-head">
        <h2>{t("list.title")}</h2>
        <div className="spacer" />
        {canWrite && (
          <button type="button" className="primary" data-testid="new-flow" onClick={() => setCreating(true)}>
            {t("list.new")}
          </button>
        )}
      </div>
      {error && <p className="field-error">{error}</p>}
      {creating && (
        <form className="card new-flow" onSubmit={create} data-testid="new-flow-form">
          <h3>{t("list.newTitle")}</h3>
          <label className="field">
            <span>{t("list.newId")}</span>
            <input data-testid="new-flow-id" value={newId} onChange={(e) => setNewId(e.target.value)} autoFocus />
          </label>
          <label className="field">
            <span>{t("list.newName")}</span>
            <input data-testid="new-flow-name" value={newName} onChange={(e) => setNewName(e.target.value)} />
          </label>
          {createError && <div className="field-error">{createError}</div>}
          <div className="row-buttons">
            <button type="submit" className="primary" data-testid="new-flow-create">
              {t("list.create")}
            </button>
            <button type="button" onClick={() => setCreating(false)}>
              {t("app.cancel")}
            </button>
          </div>
        </form>
      )}
      {flows === null && !error && <p className="muted">{t("app.loading")}</p>}
      {flows && flows.length === 0 && <p className="muted">{t("list.empty")}</p>}
      {flows && flows.length > 0 && (
        <table className="grid flows" data-testid="flow-table">
          <thead>
            <tr>
              <th>{t("list.name")}</th>
              <th>{t("list.id")}</th>
              <th>{t("list.status")}</th>
              <th>{t("list.live")}</th>
              <th>{t("list.editor")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {flows.map((f) => (
              <tr key={f.id} data-testid={`flow-row-${f.id}`}>
                <td>
                  <a
                    href={`/flows/${encodeURIComponent(f.id)}`}
                    onClick={(e) => {
                      e.preventDefault();
                      onOpen(f.id);
                    }}
                  >
                    {f.name}
                  </a>
                </td>
                <td>
                  <code>{f.id}</code>
                </td>
                <td>
                  <span className={`pill status-${f.status}`}>{t(`list.status.${f.status}`)}</span>
                </td>
                <td>
                  {f.live.length === 0
                    ? <span className="muted">{t("list.notLive")}</span>
                    : f.live.map((l) => (
                        <span key={l.entry} className="pill live">
                          {l.entry} · v{l.version}
                        </span>
                      ))}
                </td>
                <td className="small">{t("list.by", { who: f.updated_by || "—", when: formatTime(lang, f.updated_at) })}</td>
                <td>
                  <button type="button" onClick={() => onOpen(f.id)} data-testid={`open-${f.id}`}>
                    {t("list.open")}
                  </button>{" "}
                  <button type="button" className="link" onClick={() => onWorklist(f.id)} data-testid={`worklist-${f.id}`}>
                    {t("nav.worklist")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
