// The designer API: JSON over fetch, the session cookie, and the CSRF token on every change.
// Errors are RFC 9457 problem documents; they arrive here as ApiError.

import type { Lang } from "./i18n";

export interface Problem {
  severity: "error" | "warning";
  code: string;
  message_zh: string;
  message_en: string;
  pointer: string;
  node: string | null;
  line?: number | null;
  column?: number | null;
}

export class ApiError extends Error {
  status: number;
  body: Record<string, any>;
  constructor(status: number, body: Record<string, any>) {
    super(body.message_en || body.title || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
  get code(): string {
    return this.body.code || "";
  }
  text(lang: Lang): string {
    const zh = this.body.message_zh;
    const en = this.body.message_en;
    return (lang === "zh" ? zh || en : en || zh) || this.message;
  }
}

let csrfToken = "";

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export interface Reply<T> {
  data: T;
  etag: string | null;
  status: number;
}

export async function request<T = any>(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply<T>> {
  const init: RequestInit = { method, credentials: "same-origin", headers: { ...headers } };
  const h = init.headers as Record<string, string>;
  h["Accept"] = "application/json, application/problem+json";
  if (method !== "GET" && method !== "HEAD") {
    h["X-CSRF-Token"] = csrfToken;
  }
  if (body instanceof Blob) {
    // a file as it is (recordings): the type is read from the content on the server
    h["Content-Type"] = h["Content-Type"] || "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (exc) {
    throw new ApiError(0, {
      code: "network",
      message_zh: "无法连接服务器，请检查网络",
      message_en: "cannot reach the server; check the network",
    });
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new ApiError(
      response.status,
      typeof data === "object" && data ? data : { message_en: String(data), message_zh: String(data) },
    );
  }
  return { data: data as T, etag: response.headers.get("etag"), status: response.status };
}

export const api = {
  get: <T = any>(url: string) => request<T>("GET", url).then((r) => r.data),
  post: <T = any>(url: string, body?: unknown) => request<T>("POST", url, body ?? {}).then((r) => r.data),
  put: <T = any>(url: string, body?: unknown) => request<T>("PUT", url, body ?? {}).then((r) => r.data),
  del: <T = any>(url: string) => request<T>("DELETE", url).then((r) => r.data),
};

export interface User {
  username: string;
  display_name: string;
  roles: string[];
  permissions: string[];
}

export interface Session {
  user: User;
  csrf_token: string;
}

export function revisionOf(etag: string | null): number | null {
  if (!etag) return null;
  const m = /"?(\d+)"?/.exec(etag);
  return m ? Number(m[1]) : null;
}
