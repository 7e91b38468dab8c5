// Business data (/data, /data/PAGE): pages that plugins describe (GET /api/plugin-pages) —
// block/allow/VIP lists, area prefixes, callback requests, SMS messages… — drawn by one
// generic component: a table of what the page's list URL returns, an "Add" form generated
// by rjsf from the page's JSON Schema (the same setup as the node inspector), buttons on each
// row (with a confirmation and an optional small form) and query filters. No plugin has
// frontend code of its own; the API's own checks and zh/en messages decide.

import Form from "@rjsf/core";
import type { IChangeEvent } from "@rjsf/core";
import type { ErrorSchema, RJSFSchema } from "@rjsf/utils";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { ApiError, request } from "../api";
import { localSchema, translator, uiSchemaFor } from "../editor/schemaText";
import { useValidator } from "../editor/Inspector";
import { bilingual, formatTime, pick, useLang, useT } from "../i18n";
import type { Lang } from "../i18n";

type Text = { zh: string; en: string };

export interface PageColumn {
  key: string;
  title: Text;
  kind: "text" | "code" | "number" | "datetime" | "status" | "boolean";
  labels: Record<string, Text>;
}

export interface PageForm {
  url: string;
  method: string;
  schema: Record<string, any>;
  permission: string;
  title: Text | null;
  allowed: boolean;
}

export interface PageAction {
  id: string;
  title: Text;
  method: string;
  url: string;
  permission: string;
  confirm: Text | null;
  body_schema: Record<string, any> | null;
  when: Record<string, unknown[]>;
  danger: boolean;
  prefill: boolean;
  allowed: boolean;
}

export interface PageFilter {
  name: string;
  schema: Record<string, any>;
}

export interface PluginPage {
  id: string;
  title: Text;
  description: Text;
  permission: string;
  list_url: string;
  items_key: string;
  row_key: string;
  columns: PageColumn[];
  create: PageForm | null;
  actions: PageAction[];
  filters: PageFilter[];
}

type Row = Record<string, any>;

/** An id usable in element ids and CSS selectors. */
const safeId = (text: string) => text.replace(/[^A-Za-z0-9_-]/g, "_");

/** `{field}` replaced by the value's text (URL-encoded when `url`), as nodes.plugins does. */
export function fillTemplate(template: string, values: Row, url = true): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]{0,63})\}/g, (_m, name: string) => {
    const value = values[name];
    const text = value === null || value === undefined ? "" : String(value);
    return url ? encodeURIComponent(text) : text;
  });
}

/** The API's located problems (pointer "/value") as rjsf errors under their fields. */
function fieldErrors(error: ApiError | null, lang: Lang): ErrorSchema | undefined {
  const problems: any[] = error?.body?.problems || [];
  const out: Record<string, any> = {};
  for (const p of problems) {
    const pointer = typeof p.pointer === "string" ? p.pointer : "";
    const path = pointer.split("/").slice(1).filter(Boolean);
    if (path.length === 0) continue;
    let node = out;
    for (const token of path) node = node[token] = node[token] || {};
    node.__errors = [...(node.__errors || []), lang === "zh" ? p.message_zh || p.message_en : p.message_en || p.message_zh];
  }
  return Object.keys(out).length ? (out as ErrorSchema) : undefined;
}

function withoutEmpty(data: Row): Row {
  // an emptied optional field is left out (the API's default), not sent as ""
  return Object.fromEntries(Object.entries(data || {}).filter(([, v]) => v !== undefined && v !== ""));
}

/** An rjsf form of a page's schema with our own buttons; what was typed stays on errors. */
function SchemaForm({
  schema,
  data,
  onData,
  onSubmit,
  error,
  busy,
  idPrefix,
  testId,
  children,
}: {
  schema: Record<string, any>;
  data: Row;
  onData: (data: Row) => void;
  onSubmit: (data: Row) => void;
  error: ApiError | null;
  busy: boolean;
  idPrefix: string;
  testId: string;
  children: ReactNode;
}) {
  const { lang } = useLang();
  const validator = useValidator();
  const local = useMemo(() => localSchema(schema, lang) as RJSFSchema, [schema, lang]);
  const extraErrors = useMemo(() => fieldErrors(error, lang), [error, lang]);
  return (
    <div className="config-form page-form" data-testid={testId}>
      <Form
        key={lang}
        schema={local}
        uiSchema={uiSchemaFor(schema)}
        formData={data}
        validator={validator}
        showErrorList={false}
        noHtml5Validate
        disabled={busy}
        idPrefix={idPrefix}
        translateString={translator(lang)}
        extraErrors={extraErrors}
        onChange={(e: IChangeEvent) => onData(e.formData ?? {})}
        onSubmit={(e: IChangeEvent) => onSubmit(e.formData ?? {})}
      >
        {error && (
          <p className="field-error" data-testid={`${testId}-error`}>
            {error.text(lang)}
          </p>
        )}
        {children}
      </Form>
    </div>
  );
}

function Cell({ column, value }: { column: PageColumn; value: any }) {
  const { lang } = useLang();
  const t = useT();
  if (value === null || value === undefined || value === "") return <span className="muted">—</span>;
  const label = column.labels[String(value)];
  switch (column.kind) {
    case "datetime":
      return <span title={String(value)}>{formatTime(lang, String(value))}</span>;
    case "status":
      return <span className={`pill data-status status-${String(value)}`}>{label ? pick(lang, label) : String(value)}</span>;
    case "boolean":
      return <span>{label ? pick(lang, label) : value ? t("data.yes") : t("data.no")}</span>;
    case "code":
      return <code>{label ? pick(lang, label) : String(value)}</code>;
    default:
      if (label) return <span>{pick(lang, label)}</span>;
      return <span>{typeof value === "object" ? JSON.stringify(value) : String(value)}</span>;
  }
}

function shows(action: PageAction, row: Row): boolean {
  return Object.entries(action.when || {}).every(([field, values]) => values.includes(row[field]));
}

function initialBody(action: PageAction, row: Row): Row {
  if (!action.prefill || !action.body_schema) return {};
  const keys = Object.keys(action.body_schema.properties || {});
  return Object.fromEntries(keys.filter((k) => row[k] !== null && row[k] !== undefined).map((k) => [k, row[k]]));
}

/** The open confirmation / small form of one action on one row. */
function ActionPanel({
  page,
  action,
  row,
  onDone,
  onClose,
}: {
  page: PluginPage;
  action: PageAction;
  row: Row;
  onDone: (action: PageAction) => void;
  onClose: () => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const [data, setData] = useState<Row>(() => initialBody(action, row));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const rowId = String(row[page.row_key] ?? "");

  const run = async (body?: Row) => {
    setBusy(true);
    setError(null);
    try {
      await request(action.method, fillTemplate(action.url, row), body === undefined ? undefined : withoutEmpty(body));
      onDone(action);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, { message_en: String(e), message_zh: String(e) }));
      setBusy(false);
    }
  };
  const buttons = (
    <div className="row-buttons">
      <button
        type={action.body_schema ? "submit" : "button"}
        className={action.danger ? "small danger" : "primary small"}
        disabled={busy}
        data-testid={`action-ok-${action.id}-${rowId}`}
        onClick={action.body_schema ? undefined : () => run(action.method === "DELETE" ? undefined : {})}
      >
        {pick(lang, action.title)}
      </button>
      <button type="button" className="small" onClick={onClose} data-testid={`action-cancel-${action.id}-${rowId}`}>
        {t("app.cancel")}
      </button>
    </div>
  );
  return (
    <div className="confirm row-panel" data-testid={`action-panel-${action.id}-${rowId}`}>
      {action.confirm && <span className="strong">{fillTemplate(pick(lang, action.confirm), row, false)}</span>}
      {action.body_schema ? (
        <SchemaForm
          schema={action.body_schema}
          data={data}
          onData={setData}
          onSubmit={run}
          error={error}
          busy={busy}
          idPrefix={`act_${safeId(`${page.id}_${action.id}_${rowId}`)}`}
          testId={`action-form-${action.id}-${rowId}`}
        >
          {buttons}
        </SchemaForm>
      ) : (
        <>
          {error && (
            <p className="field-error" data-testid={`action-error-${action.id}-${rowId}`}>
              {error.text(lang)}
            </p>
          )}
          {buttons}
        </>
      )}
    </div>
  );
}

function FilterField({ filter, value, onChange }: { filter: PageFilter; value: string; onChange: (v: string) => void }) {
  const { lang } = useLang();
  const schema = filter.schema;
  const title = bilingual(lang, schema.title) || filter.name;
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const choices: { value: string; label: string }[] | null = Array.isArray(schema.oneOf)
    ? schema.oneOf.map((o: any) => ({ value: String(o.const ?? ""), label: bilingual(lang, o.title) || String(o.const ?? "") }))
    : Array.isArray(schema.enum)
      ? schema.enum.map((v: any) => ({ value: String(v), label: String(v) || "—" }))
      : null;
  return (
    <label className="data-filter">
      <span className="small">{title}</span>
      {choices ? (
        <select data-testid={`filter-${filter.name}`} value={value} onChange={(e) => onChange(e.target.value)}>
          {choices.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </select>
      ) : (
        <input
          data-testid={`filter-${filter.name}`}
          value={draft}
          maxLength={schema.maxLength}
          onChange={(e) => setDraft(e.target.value)}
          onBlur={() => onChange(draft.trim())}
          onKeyDown={(e) => e.key === "Enter" && onChange(draft.trim())}
        />
      )}
    </label>
  );
}

type Notice = { action: Text } | { saved: true } | null;

export function PluginPageView({ page }: { page: PluginPage }) {
  const t = useT();
  const { lang } = useLang();
  const [filters, setFilters] = useState<Record<string, string>>(() =>
    Object.fromEntries(page.filters.map((f) => [f.name, f.schema.default === undefined ? "" : String(f.schema.default)])),
  );
  const [rows, setRows] = useState<Row[] | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [tick, setTick] = useState(0);
  const [adding, setAdding] = useState(false);
  const [draft, setDraft] = useState<Row>({});
  const [createError, setCreateError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<{ action: string; row: string } | null>(null);
  const [notice, setNotice] = useState<Notice>(null);

  const url = useMemo(() => {
    const target = new URL(page.list_url, window.location.origin);
    for (const [name, value] of Object.entries(filters)) if (value !== "") target.searchParams.set(name, value);
    return target.pathname + target.search;
  }, [page.list_url, filters]);

  useEffect(() => {
    let cancelled = false;
    request<Row>("GET", url)
      .then((r) => {
        if (cancelled) return;
        const items = r.data?.[page.items_key];
        setRows(Array.isArray(items) ? items : []);
        setLoadError(null);
      })
      .catch((e) => {
        if (cancelled) return;
        setLoadError(e instanceof ApiError ? e : new ApiError(0, { message_en: String(e), message_zh: String(e) }));
      });
    return () => {
      cancelled = true;
    };
  }, [url, page.items_key, tick]);

  const reload = useCallback(() => setTick((x) => x + 1), []);

  const create = async (data: Row) => {
    if (!page.create) return;
    setBusy(true);
    setCreateError(null);
    try {
      const body = withoutEmpty(data);
      await request(page.create.method, fillTemplate(page.create.url, body), body);
      setAdding(false);
      setDraft({});
      setNotice({ saved: true });
      reload();
    } catch (e) {
      // the form stays open with what was typed, the API's message beside it
      setCreateError(e instanceof ApiError ? e : new ApiError(0, { message_en: String(e), message_zh: String(e) }));
    } finally {
      setBusy(false);
    }
  };

  const actions = page.actions.filter((a) => a.allowed);
  const rowId = (row: Row, i: number) => String(row[page.row_key] ?? i);
  const canAdd = !!page.create?.allowed;
  const addTitle = page.create?.title ? pick(lang, page.create.title) : t("data.add");

  return (
    <div className="data-page" data-testid={`data-page-${page.id}`}>
      <div className="page-head">
        <h2>{pick(lang, page.title)}</h2>
        <div className="spacer" />
        <button type="button" className="small" onClick={reload} data-testid="data-refresh">
          {t("data.refresh")}
        </button>
        {canAdd && !adding && (
          <button
            type="button"
            className="primary"
            data-testid="data-add"
            onClick={() => {
              setAdding(true);
              setNotice(null);
            }}
          >
            {addTitle}
          </button>
        )}
      </div>
      <p className="muted intro">{pick(lang, page.description)}</p>
      {!canAdd && actions.length === 0 && (page.create || page.actions.length > 0) && (
        <p className="warning small" data-testid="data-read-only">
          {t("data.readOnly")}
        </p>
      )}
      {notice && (
        <p className="success" data-testid="data-notice">
          {"saved" in notice ? t("data.saved") : t("data.done", { action: pick(lang, notice.action) })}
        </p>
      )}
      {adding && page.create && (
        <div className="card data-create">
          <h3>{addTitle}</h3>
          <SchemaForm
            schema={page.create.schema}
            data={draft}
            onData={setDraft}
            onSubmit={create}
            error={createError}
            busy={busy}
            idPrefix={`add_${safeId(page.id)}`}
            testId="data-create-form"
          >
            <div className="row-buttons">
              <button type="submit" className="primary" disabled={busy} data-testid="data-create-submit">
                {t("data.submit")}
              </button>
              <button
                type="button"
                onClick={() => {
                  setAdding(false);
                  setCreateError(null);
                }}
              >
                {t("app.cancel")}
              </button>
            </div>
          </SchemaForm>
        </div>
      )}
      {page.filters.length > 0 && (
        <div className="data-filters" data-testid="data-filters">
          {page.filters.map((f) => (
            <FilterField
              key={f.name}
              filter={f}
              value={filters[f.name] ?? ""}
              onChange={(v) => setFilters((old) => ({ ...old, [f.name]: v }))}
            />
          ))}
        </div>
      )}
      {loadError && (
        <p className="field-error" data-testid="data-load-error">
          {loadError.text(lang)}
        </p>
      )}
      {rows === null && !loadError && <p className="muted">{t("app.loading")}</p>}
      {rows && rows.length === 0 && (
        <p className="muted" data-testid="data-empty">
          {t("data.empty")}
        </p>
      )}
      {rows && rows.length > 0 && (
        <>
          <table className="grid data-table" data-testid="data-table">
            <thead>
              <tr>
                {page.columns.map((c) => (
                  <th key={c.key}>{pick(lang, c.title)}</th>
                ))}
                {actions.length > 0 && <th>{t("data.actions")}</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((row, i) => {
                const id = rowId(row, i);
                const opened = open && open.row === id ? actions.find((a) => a.id === open.action) : undefined;
                return [
                  <tr key={id} data-testid={`data-row-${id}`}>
                    {page.columns.map((c) => (
                      <td key={c.key} className={c.kind === "number" ? "num" : undefined} data-column={c.key}>
                        <Cell column={c} value={row[c.key]} />
                      </td>
                    ))}
                    {actions.length > 0 && (
                      <td className="data-actions">
                        {actions
                          .filter((a) => shows(a, row))
                          .map((a) => (
                            <button
                              key={a.id}
                              type="button"
                              className={a.danger ? "small danger" : "small"}
                              data-testid={`action-${a.id}-${id}`}
                              onClick={() => {
                                setNotice(null);
                                setOpen({ action: a.id, row: id });
                              }}
                            >
                              {pick(lang, a.title)}
                            </button>
                          ))}
                      </td>
                    )}
                  </tr>,
                  opened && (
                    <tr key={`${id}:panel`} className="data-panel-row">
                      <td colSpan={page.columns.length + 1}>
                        <ActionPanel
                          key={`${opened.id}:${id}`}
                          page={page}
                          action={opened}
                          row={row}
                          onClose={() => setOpen(null)}
                          onDone={(a) => {
                            setOpen(null);
                            setNotice({ action: a.title });
                            reload();
                          }}
                        />
                      </td>
                    </tr>
                  ),
                ];
              })}
            </tbody>
          </table>
          <p className="muted small">{t("data.count", { n: rows.length })}</p>
        </>
      )}
    </div>
  );
}

/** The section: the pages on the left, the chosen one (or the first) on the right. */
export function PluginPages({
  pages,
  pageId,
  onPage,
}: {
  pages: PluginPage[] | null;
  pageId: string | null;
  onPage: (id: string) => void;
}) {
  const t = useT();
  const { lang } = useLang();
  if (pages === null) return <div className="page-message">{t("app.loading")}</div>;
  const current = pages.find((p) => p.id === pageId) || pages[0];
  return (
    <div className="data-layout" data-testid="data">
      <nav className="data-nav" data-testid="data-nav">
        <h3>{t("data.title")}</h3>
        {pages.length === 0 && <p className="muted small">{t("data.none")}</p>}
        {pages.map((p) => (
          <a
            key={p.id}
            href={`/data/${encodeURIComponent(p.id)}`}
            className={current && p.id === current.id ? "data-link active" : "data-link"}
            data-testid={`data-link-${p.id}`}
            onClick={(e) => {
              e.preventDefault();
              onPage(p.id);
            }}
          >
            {pick(lang, p.title)}
          </a>
        ))}
      </nav>
      <div className="data-main">{current ? <PluginPageView key={current.id} page={current} /> : null}</div>
    </div>
  );
}
