// The single-page designer: sign-in, the flow list and the editor, routed on the client
// (/login, /, /flows/ID); the server answers every non-API path with this page.

import { useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError, setCsrfToken } from "./api";
import type { Session } from "./api";
import { EditorPage } from "./editor/Editor";
import { LangContext, translate } from "./i18n";
import type { Lang } from "./i18n";
import { FlowList } from "./pages/FlowList";
import { Login } from "./pages/Login";

const LANG_KEY = "ivrflow.lang";

function initialLang(): Lang {
  try {
    const stored = window.localStorage.getItem(LANG_KEY);
    if (stored === "en" || stored === "zh") return stored;
  } catch {
    /* no storage: the default */
  }
  return "zh";
}

function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    if (to !== window.location.pathname) window.history.pushState(null, "", to);
    setPath(to);
  }, []);
  return [path, navigate];
}

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [path, navigate] = usePath();

  const setLang = useCallback((next: Lang) => {
    setLangState(next);
    try {
      window.localStorage.setItem(LANG_KEY, next);
    } catch {
      /* not remembered */
    }
  }, []);
  const langState = useMemo(() => ({ lang, setLang }), [lang, setLang]);

  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = translate(lang, "app.title");
  }, [lang]);

  useEffect(() => {
    api
      .get<Session>("/api/session")
      .then((s) => {
        setCsrfToken(s.csrf_token);
        setSession(s);
      })
      .catch((e) => {
        if (!(e instanceof ApiError) || e.status !== 401) console.warn(e);
        setSession(null);
      });
  }, []);

  const signedIn = (s: Session) => {
    setCsrfToken(s.csrf_token);
    setSession(s);
    if (path === "/login") navigate("/");
  };

  const logout = async () => {
    try {
      await api.post("/api/logout");
    } catch {
      /* signed out anyway */
    }
    setSession(null);
    navigate("/login");
  };

  let body;
  if (session === undefined) {
    body = <div className="page-message">{translate(lang, "app.loading")}</div>;
  } else if (session === null) {
    body = <Login onSignedIn={signedIn} />;
  } else {
    const match = /^\/flows\/([^/]+)\/?$/.exec(path);
    body = match ? (
      <EditorPage key={match[1]} flowId={decodeURIComponent(match[1])} session={session} onBack={() => navigate("/")} />
    ) : (
      <FlowList onOpen={(id) => navigate(`/flows/${encodeURIComponent(id)}`)} session={session} />
    );
  }

  return (
    <LangContext.Provider value={langState}>
      <div className="app">
        <header className="appbar">
          <a
            className="brand"
            href="/"
            onClick={(e) => {
              e.preventDefault();
              navigate("/");
            }}
          >
            {translate(lang, "app.title")}
          </a>
          <div className="spacer" />
          {session && (
            <span className="user" data-testid="user">
              {session.user.display_name || session.user.username}
            </span>
          )}
          <button type="button" className="link" data-testid="lang-switch" onClick={() => setLang(lang === "zh" ? "en" : "zh")}>
            {translate(lang, "app.switchLang")}
          </button>
          {session && (
            <button type="button" className="link" onClick={logout} data-testid="logout">
              {translate(lang, "app.logout")}
            </button>
          )}
        </header>
        <main className="main">{body}</main>
      </div>
    </LangContext.Provider>
  );
}
