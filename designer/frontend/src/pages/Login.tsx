import { useState } from "react";
import { ApiError, request } from "../api";
import type { Session } from "../api";
import { useLang, useT } from "../i18n";

export function Login({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const t = useT();
  const { lang } = useLang();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const reply = await request<Session>("POST", "/api/login", { username, password });
      onSignedIn(reply.data);
    } catch (exc) {
      setError(exc instanceof ApiError ? exc.text(lang) : String(exc));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="login-box" onSubmit={submit} data-testid="login-form">
        <h1>{t("app.title")}</h1>
        <p className="muted">{t("login.subtitle")}</p>
        <label className="field">
          <span>{t("login.username")}</span>
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            autoFocus
            required
          />
        </label>
        <label className="field">
          <span>{t("login.password")}</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <div className="field-error" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" className="primary wide" disabled={busy} data-testid="login-submit">
          {busy ? t("login.busy") : t("login.submit")}
        </button>
      </form>
    </div>
  );
}
