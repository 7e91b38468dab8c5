// The single-page designer: sign-in, the flow list, the editor, the recorders' worklist, the
// entries page and the plugins' business data pages, routed on the client (/login, /,
// /flows/ID, /worklist[/ID], /entries, /data[/PAGE]); the server answers every non-API path
// with this page.

import { useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError, setCsrfToken } from "./api";
import type { Session } from "./api";
import { EditorPage } from "./editor/Editor";
import { LangContext, translate } from "./i18n";
import type { Lang } from "./i18n";
import { Entries } from "./pages/Entries";
import { FlowList } from "./pages/FlowList";
import { Login } from "./pages/Login";
import { PluginPages } from "./pages/PluginPages";
import type { PluginPage } from "./pages/PluginPages";
import { Worklist } from "./pages/Worklist";

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
  const [pluginPages, setPluginPages] = useState<PluginPage[] | null>(null);

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

  useEffect(() => {
    if (!session) {
      setPluginPages(null);
      return;
    }
    let cancelled = false;
    api
      .get<{ pages: PluginPage[] }>("/api/plugin-pages")
      .then((r) => !cancelled && setPluginPages(r.pages))
      .catch((e) => {
        console.warn(e);
        if (!cancelled) setPluginPages([]);
      });
    return () => {
      cancelled = true;
    };
  }, [session]);

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
    const open = (id: string) => navigate(`/flows/${encodeURIComponent(id)}`);
    const match = /^\/flows\/([^/]+)\/?$/.exec(path);
    const work = /^\/worklist(?:\/([^/]+))?\/?$/.exec(path);
    const data = /^\/data(?:\/([^/]+))?\/?$/.exec(path);
    if (match) {
      body = <EditorPage key={match[1]} flowId={decodeURIComponent(match[1])} session={session} onBack={() => navigate("/")} />;
    } else if (work) {
      body = (
        <Worklist
          flowId={work[1] ? decodeURIComponent(work[1]) : null}
          session={session}
          onFlow={(id) => navigate(`/worklist/${encodeURIComponent(id)}`)}
          onOpenFlow={open}
        />
      );
    } else if (data) {
      body = (
        <PluginPages
          pages={pluginPages}
          pageId={data[1] ? decodeURIComponent(data[1]) : null}
          onPage={(id) => navigate(`/data/${encodeURIComponent(id)}`)}
        />
      );
    } else if (/^\/entries\/?$/.test(path)) {
      body = <Entries session={session} onOpenFlow={open} />;
    } else {
      body = <FlowList onOpen={open} onWorklist={(id) => navigate(`/worklist/${encodeURIComponent(id)}`)} session={session} />;
    }
  }
  const section = path.startsWith("/worklist")
    ? "worklist"
    : path.startsWith("/entries")
      ? "entries"
      : path.startsWith("/data")
        ? "data"
        : "flows";
  const navLink = (to: string, id: string, label: string) => (
    <a
      href={to}
      className={section === id ? "nav active" : "nav"}
      data-testid={`nav-${id}`}
      onClick={(e) => {
        e.preventDefault();
        navigate(to);
      }}
    >
      {label}
    </a>
  );

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
          {session && (
            <nav className="appnav">
              {navLink("/", "flows", translate(lang, "nav.flows"))}
              {navLink("/worklist", "worklist", translate(lang, "nav.worklist"))}
              {session.user.permissions.includes("entries.manage") &&
                navLink("/entries", "entries", translate(lang, "nav.entries"))}
              {pluginPages && pluginPages.length > 0 && navLink("/data", "data", translate(lang, "nav.data"))}
            </nav>
          )}
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
