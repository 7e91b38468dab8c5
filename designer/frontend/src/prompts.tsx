// The prompt library in the browser: each prompt's state per language (missing, TTS
// placeholder, recorded, approved, dynamic) as a badge, ▶ to listen in the page, and — for
// recorders and admins (prompts.write) — upload a recording and approve it or take the
// approval back. Used by the editor's inspector and prompts tab and by the worklist page.

import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, request } from "./api";
import { formatTime, useLang, useT } from "./i18n";

export type PromptStatus = "missing" | "placeholder" | "recorded" | "approved" | "dynamic";

export interface PromptItem {
  prompt_id: string;
  language: string;
  text: string | null;
  status: PromptStatus;
  source: "tts" | "upload" | null;
  outdated: boolean;
  stale_placeholder: boolean;
  duration_ms: number | null;
  audio_sha: string | null;
  recorded_by: string;
  recorded_at: string | null;
  approved_by: string;
  original_name: string;
  used_by: { flow: string; node: string }[];
  number_set: boolean;
}

export const keyOf = (promptId: string, language: string) => `${language}\u0000${promptId}`;

/** /api/prompts/{lang}/{id}/… — ids may hold "/" (say/zh/1): each part is encoded apart. */
export function promptUrl(language: string, promptId: string, what: "audio" | "recording" | "approval"): string {
  const id = promptId.split("/").map(encodeURIComponent).join("/");
  return `/api/prompts/${encodeURIComponent(language)}/${id}/${what}`;
}

/** The state of every prompt a saved flow (and its sub-flows) plays, by keyOf. */
export function usePromptStates(flowId: string | null, refresh: unknown = 0) {
  const { lang } = useLang();
  const [items, setItems] = useState<Record<string, PromptItem>>({});
  const [error, setError] = useState("");
  const [loaded, setLoaded] = useState(false);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((x) => x + 1), []);

  useEffect(() => {
    if (!flowId) {
      setItems({});
      setLoaded(false);
      return;
    }
    let cancelled = false;
    api
      .get<{ prompts: PromptItem[] }>(`/api/prompts?flow=${encodeURIComponent(flowId)}`)
      .then((r) => {
        if (cancelled) return;
        const next: Record<string, PromptItem> = {};
        for (const item of r.prompts) next[keyOf(item.prompt_id, item.language)] = item;
        setItems(next);
        setError("");
        setLoaded(true);
      })
      .catch((e) => !cancelled && setError(e instanceof ApiError ? e.text(lang) : String(e)));
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId, refresh, tick]);

  return { items, error, loaded, reload };
}

export function StatusBadge({ item }: { item: PromptItem | undefined }) {
  const t = useT();
  const { lang } = useLang();
  // not in the saved flow's list: not saved yet, or no node plays it
  const status: PromptStatus | "unknown" = item?.status ?? "unknown";
  let title = t(`pstatus.${status}.hint`);
  if (item?.recorded_by) title += ` · ${t("pstatus.recordedBy", { who: item.recorded_by, when: formatTime(lang, item.recorded_at) })}`;
  if (item?.approved_by) title += ` · ${t("pstatus.approvedBy", { who: item.approved_by })}`;
  return (
    <>
      <span className={`pill pstatus-${status}`} title={title} data-testid="prompt-status" data-status={status}>
        {t(`pstatus.${status}`)}
      </span>
      {item?.outdated && (
        <span className="pill pstatus-outdated" title={t("pstatus.outdated.hint")} data-testid="prompt-outdated">
          {t("pstatus.outdated")}
        </span>
      )}
    </>
  );
}

/** designer/prompts_api.py MAX_UPLOAD_BYTES */
const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

const ACCEPT = "audio/*,.wav,.mp3,.m4a,.aac,.ogg,.opus,.flac,.amr,.wma";

/** ▶, upload and approve for one prompt in one language. */
export function PromptActions({
  promptId,
  language,
  item,
  canWrite,
  onChanged,
}: {
  promptId: string;
  language: string;
  item: PromptItem | undefined;
  canWrite: boolean;
  onChanged: (fresh: PromptItem, action: "upload" | "approve" | "unapprove") => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const [busy, setBusy] = useState("");
  const [error, setError] = useState("");
  const [playing, setPlaying] = useState(false);
  const audioRef = useRef<HTMLAudioElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const hasAudio = !!item?.audio_sha;
  const testId = `${promptId}-${language}`;

  const play = () => {
    const audio = audioRef.current;
    if (!audio) return;
    setError("");
    if (playing && !audio.paused) {
      audio.pause();
      setPlaying(false);
      return;
    }
    // the hash in the query string: a new recording is fetched, not the cached one
    audio.src = `${promptUrl(language, promptId, "audio")}?v=${item?.audio_sha ?? ""}`;
    setPlaying(true);
    audio.play().catch((e: unknown) => {
      // autoplay rules or no sound device: the controls stay, the person can press play
      if (e instanceof DOMException && e.name === "NotSupportedError") setError(t("audio.cannotPlay"));
    });
  };

  const upload = async (file: File) => {
    if (file.size > MAX_UPLOAD_BYTES) {
      // the server refuses it too (413); no need to send it first
      setError(t("audio.tooLarge"));
      if (fileRef.current) fileRef.current.value = "";
      return;
    }
    setBusy("upload");
    setError("");
    try {
      const reply = await request<PromptItem>("POST", promptUrl(language, promptId, "recording"), file, {
        "X-Filename": encodeURIComponent(file.name),
      });
      onChanged(reply.data, "upload");
    } catch (e) {
      setError(e instanceof ApiError ? e.text(lang) : String(e));
    } finally {
      setBusy("");
      if (fileRef.current) fileRef.current.value = "";
    }
  };

  const approve = async (approved: boolean) => {
    setBusy("approve");
    setError("");
    try {
      const fresh = await api.post<PromptItem>(promptUrl(language, promptId, "approval"), { approved });
      onChanged(fresh, approved ? "approve" : "unapprove");
    } catch (e) {
      setError(e instanceof ApiError ? e.text(lang) : String(e));
    } finally {
      setBusy("");
    }
  };

  return (
    <div className="prompt-actions">
      <div className="prompt-buttons">
        <button
          type="button"
          className="small"
          disabled={!hasAudio}
          title={hasAudio ? t("audio.play") : t("audio.none")}
          data-testid={`play-${testId}`}
          onClick={play}
        >
          {playing ? "■" : "▶"} {t("audio.play")}
        </button>
        {canWrite && item?.status !== "dynamic" && (
          <>
            <button
              type="button"
              className="small"
              disabled={!!busy}
              data-testid={`upload-${testId}`}
              onClick={() => fileRef.current?.click()}
            >
              {busy === "upload" ? t("audio.uploading") : item?.source === "upload" ? t("audio.replace") : t("audio.upload")}
            </button>
            <input
              ref={fileRef}
              type="file"
              accept={ACCEPT}
              hidden
              data-testid={`file-${testId}`}
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file) void upload(file);
              }}
            />
            {item?.status === "recorded" && (
              <button
                type="button"
                className="small accept"
                disabled={!!busy}
                data-testid={`approve-${testId}`}
                onClick={() => approve(true)}
              >
                ✓ {t("audio.approve")}
              </button>
            )}
            {item?.status === "approved" && (
              <button
                type="button"
                className="small"
                disabled={!!busy}
                data-testid={`unapprove-${testId}`}
                onClick={() => approve(false)}
              >
                {t("audio.unapprove")}
              </button>
            )}
          </>
        )}
      </div>
      <audio
        ref={audioRef}
        controls
        preload="none"
        className={playing ? "prompt-audio" : "prompt-audio hidden"}
        data-testid={`audio-${testId}`}
        onEnded={() => setPlaying(false)}
        onError={() => {
          if (audioRef.current?.getAttribute("src")) setError(t("audio.cannotPlay"));
        }}
      />
      {error && (
        <div className="field-error" data-testid={`prompt-error-${testId}`}>
          {error}
        </div>
      )}
    </div>
  );
}

/** A badge and the actions, for each language of a prompt (inspector and prompts tab). */
export function PromptLanguages({
  promptId,
  languages,
  items,
  canWrite,
  onChanged,
  showLanguage = true,
}: {
  promptId: string;
  languages: string[];
  items: Record<string, PromptItem>;
  canWrite: boolean;
  onChanged: () => void;
  showLanguage?: boolean;
}) {
  return (
    <div className="prompt-langs" data-testid={`prompt-langs-${promptId}`}>
      {languages.map((language) => {
        const item = items[keyOf(promptId, language)];
        return (
          <div className="prompt-lang" key={language} data-testid={`prompt-lang-${promptId}-${language}`}>
            {showLanguage && <span className="lang-tag">{language}</span>}
            <StatusBadge item={item} />
            <PromptActions promptId={promptId} language={language} item={item} canWrite={canWrite} onChanged={onChanged} />
          </div>
        );
      })}
    </div>
  );
}
