// Every string the designer shows, in Simplified Chinese (default) and English.
// t("key", {name: value}) fills {name} placeholders.

import { createContext, useContext } from "react";

export type Lang = "zh" | "en";

const TABLE = {
  "app.title": ["ivrflow 流程设计器", "ivrflow designer"],
  "app.switchLang": ["English", "中文"],
  "app.logout": ["退出登录", "Sign out"],
  "app.loading": ["正在加载…", "Loading…"],
  "app.flows": ["流程列表", "Flows"],
  "app.error": ["出错了", "Something went wrong"],
  "app.close": ["关闭", "Close"],
  "app.cancel": ["取消", "Cancel"],
  "app.ok": ["确定", "OK"],
  "app.retry": ["重试", "Retry"],

  "login.title": ["登录", "Sign in"],
  "login.username": ["用户名", "User name"],
  "login.password": ["密码", "Password"],
  "login.submit": ["登录", "Sign in"],
  "login.busy": ["正在登录…", "Signing in…"],
  "login.subtitle": ["12329 住房公积金热线 · 语音流程设计", "12329 housing fund hotline · voice flow design"],

  "list.title": ["流程", "Flows"],
  "list.new": ["新建流程", "New flow"],
  "list.empty": ["还没有流程。点击“新建流程”开始。", "No flows yet. Click “New flow” to start."],
  "list.name": ["名称", "Name"],
  "list.id": ["编号", "ID"],
  "list.status": ["状态", "Status"],
  "list.live": ["线上入口 / 版本", "Live entries / version"],
  "list.latest": ["最新版本", "Latest version"],
  "list.editor": ["最后修改", "Last edited"],
  "list.open": ["打开", "Open"],
  "list.status.unpublished": ["未发布", "Not published"],
  "list.status.published": ["已发布", "Published"],
  "list.status.modified": ["有未发布的修改", "Changed since publishing"],
  "list.notLive": ["未上线", "Not live"],
  "list.newTitle": ["新建流程", "New flow"],
  "list.newId": ["流程编号（小写字母、数字、- _ .）", "Flow ID (lower-case letters, digits, - _ .)"],
  "list.newName": ["流程名称", "Flow name"],
  "list.create": ["创建", "Create"],
  "list.badId": [
    "编号须以小写字母或数字开头，只含小写字母、数字和 - _ .，最长 64 个字符",
    "The ID must start with a lower-case letter or digit and contain only a-z 0-9 - _ . (at most 64)",
  ],
  "list.by": ["{who} 于 {when}", "{who} at {when}"],

  "editor.save": ["保存", "Save"],
  "editor.saving": ["正在保存…", "Saving…"],
  "editor.saved": ["已保存（第 {rev} 版草稿）", "Saved (draft revision {rev})"],
  "editor.unsaved": ["有未保存的修改", "Unsaved changes"],
  "editor.undo": ["撤销", "Undo"],
  "editor.redo": ["重做", "Redo"],
  "editor.layout": ["自动排列", "Auto layout"],
  "editor.fit": ["适应画布", "Fit view"],
  "editor.publish": ["发布…", "Publish…"],
  "editor.history": ["版本历史", "History"],
  "editor.test": ["测试呼叫", "Test call"],
  "editor.problems": ["问题", "Problems"],
  "editor.back": ["← 流程列表", "← Flows"],
  "editor.leave": ["有未保存的修改，确定离开？", "You have unsaved changes. Leave anyway?"],
  "editor.readOnly": ["只读（你的角色不能编辑）", "Read only (your role cannot edit)"],
  "editor.shortcuts": [
    "快捷键：Ctrl+S 保存 · Ctrl+Z 撤销 · Ctrl+Shift+Z 重做 · Ctrl+C/Ctrl+V 复制粘贴 · Delete 删除 · Shift+拖动 框选 · Ctrl+点击 多选",
    "Keys: Ctrl+S save · Ctrl+Z undo · Ctrl+Shift+Z redo · Ctrl+C/Ctrl+V copy/paste · Delete delete · Shift+drag select · Ctrl+click multi-select",
  ],
  "editor.deleted": ["已删除 {n} 个节点", "Deleted {n} node(s)"],
  "editor.pasted": ["已粘贴 {n} 个节点", "Pasted {n} node(s)"],
  "editor.copied": ["已复制 {n} 个节点", "Copied {n} node(s)"],
  "editor.dropHint": ["从左侧拖入节点", "Drag nodes in from the left"],
  "editor.saveFailed": ["保存失败：{msg}", "Not saved: {msg}"],

  "palette.title": ["节点", "Nodes"],
  "palette.search": ["搜索节点…", "Search nodes…"],
  "palette.none": ["没有匹配的节点", "No matching nodes"],
  "palette.hint": ["拖到画布上添加（或双击）", "Drag onto the canvas (or double-click)"],

  "node.input": ["入口", "In"],
  "node.unknownType": ["未知节点类型 {type}", "Unknown node type {type}"],
  "node.errors": ["{n} 个错误", "{n} error(s)"],
  "node.warnings": ["{n} 个警告", "{n} warning(s)"],
  "node.end": ["结束", "Ends"],

  "inspector.title": ["属性", "Properties"],
  "inspector.flow": ["流程设置", "Flow settings"],
  "inspector.nodeId": ["节点编号", "Node ID"],
  "inspector.rename": ["改名", "Rename"],
  "inspector.badNodeId": [
    "编号须以字母开头，只含字母、数字、- 和 _，最长 64 个字符，且不能重复",
    "The ID must start with a letter, contain only letters, digits, - and _ (at most 64), and be unique",
  ],
  "inspector.label": ["显示名称", "Label"],
  "inspector.labelHint": ["在画布上显示，例如“主菜单”", "Shown on the canvas, e.g. “Main menu”"],
  "inspector.type": ["类型", "Type"],
  "inspector.exits": ["出口", "Exits"],
  "inspector.exitTarget": ["连到", "Goes to"],
  "inspector.notConnected": ["（未连接）", "(not connected)"],
  "inspector.multi": ["已选中 {n} 个节点", "{n} nodes selected"],
  "inspector.delete": ["删除节点", "Delete node"],
  "inspector.noForm": ["此节点没有可配置的项。", "This node has nothing to configure."],
  "inspector.selectHint": ["选中一个节点以编辑它的属性。", "Select a node to edit it."],
  "inspector.optional": ["可不连接", "optional"],

  "flow.name": ["流程名称", "Flow name"],
  "flow.description": ["说明", "Description"],
  "flow.languages": ["语言（第一个为默认）", "Languages (the first is the default)"],
  "flow.settings": ["运行设置", "Run settings"],
  "flow.fallback": ["出错时转到的节点", "Fallback node on errors"],
  "flow.none": ["（无）", "(none)"],
  "flow.stepCap": ["每通电话最多步数", "Most steps per call"],
  "flow.repeatCap": ["同一节点最多经过次数", "Most visits to one node"],
  "flow.inputTimeout": ["默认等待按键（毫秒）", "Default wait for keys (ms)"],
  "flow.interDigit": ["按键间隔超时（毫秒）", "Between keys (ms)"],
  "flow.timezone": ["时区", "Time zone"],

  "prompts.title": ["语音提示", "Prompts"],
  "prompts.id": ["提示编号", "Prompt ID"],
  "prompts.text": ["文本（{lang}）", "Text ({lang})"],
  "prompts.add": ["添加提示", "Add prompt"],
  "prompts.remove": ["删除", "Remove"],
  "prompts.empty": ["还没有提示。", "No prompts yet."],
  "prompts.new": ["＋ 新建提示…", "+ New prompt…"],
  "prompts.choose": ["— 选择提示 —", "— choose a prompt —"],
  "prompts.newId": ["新提示编号", "New prompt ID"],
  "prompts.newText": ["提示文本（录音要说的话）", "Script text (what the recording says)"],
  "prompts.badId": [
    "编号须以字母或数字开头，只含字母、数字和 _ . / -，且不能重复",
    "The ID must start with a letter or digit, contain only letters, digits and _ . / -, and be unique",
  ],
  "prompts.missing": ["（流程中没有此提示）", "(not in this flow)"],
  "prompts.listen": ["试听", "Listen"],
  "prompts.usedBy": ["使用者", "Used by"],

  "variables.title": ["变量", "Variables"],
  "variables.name": ["名称", "Name"],
  "variables.type": ["类型", "Type"],
  "variables.default": ["默认值", "Default"],
  "variables.secret": ["保密", "Secret"],
  "variables.add": ["添加变量", "Add variable"],
  "variables.badName": ["变量名须以字母或 _ 开头，只含字母、数字和 _", "A variable name starts with a letter or _ and has only letters, digits and _"],
  "variables.empty": ["还没有声明变量。", "No variables declared."],

  "problems.title": ["问题", "Problems"],
  "problems.none": ["没有发现问题。", "No problems found."],
  "problems.checking": ["正在检查…", "Checking…"],
  "problems.summary": ["{e} 个错误，{w} 个警告", "{e} error(s), {w} warning(s)"],
  "problems.error": ["错误", "Error"],
  "problems.warning": ["警告", "Warning"],
  "problems.flow": ["流程", "Flow"],
  "problems.failed": ["无法检查：{msg}", "Could not check: {msg}"],

  "conflict.title": ["保存冲突", "Save conflict"],
  "conflict.body": [
    "{who} 在 {when} 保存了第 {rev} 版草稿，而你的修改基于第 {base} 版。你的版本已另存为副本 #{copy}，不会丢失。",
    "{who} saved draft revision {rev} at {when}, and your changes are based on revision {base}. Your version is kept as copy #{copy}; nothing is lost.",
  ],
  "conflict.reload": ["加载对方的版本", "Reload theirs"],
  "conflict.keep": ["保留我的版本", "Keep my copy"],
  "conflict.keepHint": [
    "保留：继续编辑你的版本；再次保存时会以你的版本覆盖第 {rev} 版。",
    "Keep: go on editing your version; saving again replaces revision {rev} with yours.",
  ],

  "publish.title": ["发布流程", "Publish the flow"],
  "publish.entry": ["入口（呼入号码 / AGI 路径）", "Entry (dialled number / AGI path)"],
  "publish.message": ["发布说明", "Release note"],
  "publish.messageHint": ["例如：按 3 改为贷款查询", "E.g. key 3 now goes to loans"],
  "publish.diff": ["与线上版本相比，来电者会注意到的变化", "What callers will notice compared with the live version"],
  "publish.noDiff": ["与线上版本没有区别。", "No difference from the live version."],
  "publish.first": ["此入口上还没有线上版本：这是第一次发布。", "Nothing is live on this entry yet: this is the first release."],
  "publish.otherFlow": ["注意：入口 {entry} 现在运行的是流程 {flow}，发布后将改为运行本流程。", "Note: entry {entry} now runs flow {flow}; publishing switches it to this flow."],
  "publish.submit": ["发布", "Publish"],
  "publish.busy": ["正在发布…", "Publishing…"],
  "publish.done": ["已发布：入口 {entry} 现在运行第 {version} 版。", "Published: entry {entry} now runs version {version}."],
  "publish.blocked": ["有错误，不能发布：", "Errors block publishing:"],
  "publish.warnings": ["警告（不影响发布）：", "Warnings (publishing goes ahead):"],
  "publish.saveFirst": ["发布前会先保存当前修改。", "Your changes are saved before publishing."],
  "publish.noEntry": ["请填写入口。", "Enter an entry."],
  "publish.loadingDiff": ["正在比较…", "Comparing…"],
  "publish.noPermission": ["你的角色不能发布。", "Your role cannot publish."],

  "history.title": ["版本历史", "Version history"],
  "history.none": ["还没有发布过。", "Not published yet."],
  "history.version": ["版本", "Version"],
  "history.when": ["时间", "When"],
  "history.author": ["发布人", "By"],
  "history.message": ["说明", "Note"],
  "history.live": ["线上", "Live on"],
  "history.rollback": ["回滚到此版本", "Roll back to this"],
  "history.rollbackOn": ["在入口 {entry} 上回滚到第 {version} 版？", "Roll entry {entry} back to version {version}?"],
  "history.rolledBack": ["入口 {entry} 已回滚到第 {version} 版。", "Entry {entry} now runs version {version} again."],
  "history.entries": ["入口记录", "Entry history"],

  "sim.title": ["测试呼叫", "Test call"],
  "sim.caller": ["主叫号码", "Caller number"],
  "sim.at": ["模拟时间（留空为现在）", "Call time (empty: now)"],
  "sim.start": ["开始呼叫", "Call"],
  "sim.hangup": ["挂机", "Hang up"],
  "sim.clear": ["清空", "Clear"],
  "sim.idle": ["未在通话。", "No call in progress."],
  "sim.connecting": ["正在接通…", "Connecting…"],
  "sim.inCall": ["通话中", "In call"],
  "sim.waiting": ["等待按键（{s} 秒）", "Waiting for keys ({s} s)"],
  "sim.ended": ["通话结束：{msg}", "Call ended: {msg}"],
  "sim.heard": ["▶ “{text}”", "▶ “{text}”"],
  "sim.node": ["进入 {node}", "Enters {node}"],
  "sim.pressed": ["按键 {digits}", "Pressed {digits}"],
  "sim.collected": ["收到按键 {digits}", "Got keys {digits}"],
  "sim.transfer": ["转人工：队列 {queue}（{status}）", "To an agent: queue {queue} ({status})"],
  "sim.dial": ["转外线 {number}（{status}）", "Dials {number} ({status})"],
  "sim.voicemail": ["留言信箱 {mailbox}（{status}）", "Voicemail {mailbox} ({status})"],
  "sim.record": ["录音（{status}）", "Recording ({status})"],
  "sim.ignored": ["按键被忽略：{msg}", "Keys ignored: {msg}"],
  "sim.variables": ["变量", "Variables"],
  "sim.transcript": ["通话记录", "Transcript"],
  "sim.saveFirst": ["测试的是已保存的草稿：开始前会先保存。", "The test runs the saved draft: your changes are saved first."],
  "sim.error": ["测试呼叫无法开始：{msg}", "The test call could not start: {msg}"],
  "sim.audio": ["播放声音", "Play audio"],
  "sim.steps": ["{n} 步", "{n} steps"],
  "sim.trace": ["路径", "Path"],

  "nav.flows": ["流程", "Flows"],
  "nav.worklist": ["录音工作单", "Recording worklist"],
  "nav.entries": ["入口管理", "Entries"],
  "nav.data": ["业务数据", "Business data"],

  "data.title": ["业务数据", "Business data"],
  "data.none": ["没有可查看的业务数据页面（由插件提供）。", "No business data pages you can see (plugins provide them)."],
  "data.add": ["新增", "Add"],
  "data.submit": ["保存", "Save"],
  "data.saved": ["已保存。", "Saved."],
  "data.done": ["已完成：{action}", "Done: {action}"],
  "data.empty": ["没有记录。", "Nothing here."],
  "data.refresh": ["刷新", "Refresh"],
  "data.actions": ["操作", "Actions"],
  "data.count": ["共 {n} 条", "{n} row(s)"],
  "data.yes": ["是", "Yes"],
  "data.no": ["否", "No"],
  "data.readOnly": ["你的角色只能查看此页面。", "Your role can only view this page."],

  "pstatus.missing": ["无音频", "No audio"],
  "pstatus.placeholder": ["TTS 占位", "TTS placeholder"],
  "pstatus.recorded": ["已录音", "Recorded"],
  "pstatus.approved": ["已审核", "Approved"],
  "pstatus.dynamic": ["动态合成", "Dynamic"],
  "pstatus.unknown": ["未播放", "Not played"],
  "pstatus.unknown.hint": [
    "保存后，且有节点播放此提示时，才会显示录音状态",
    "The recording's state shows once the flow is saved and a node plays this prompt",
  ],
  "pstatus.outdated": ["文本已改", "Script changed"],
  "pstatus.missing.hint": ["还没有任何音频（保存后会生成 TTS 占位）", "No audio yet (a TTS placeholder is made after saving)"],
  "pstatus.placeholder.hint": ["机器合成的占位语音，等待录音", "A machine-spoken placeholder, waiting for a recording"],
  "pstatus.recorded.hint": ["已上传录音，等待审核", "Recorded, waiting for approval"],
  "pstatus.approved.hint": ["录音已审核通过", "The recording is approved"],
  "pstatus.dynamic.hint": ["文本含变量，通话时由 TTS 合成，无需录音", "The script has variables: spoken by TTS during the call, never recorded"],
  "pstatus.outdated.hint": ["录音之后提示文本改过了，需要重新录音", "The script changed after this was recorded: record it again"],
  "pstatus.recordedBy": ["{who} 录于 {when}", "recorded by {who} at {when}"],
  "pstatus.approvedBy": ["{who} 审核", "approved by {who}"],

  "audio.play": ["试听", "Play"],
  "audio.none": ["还没有音频", "No audio yet"],
  "audio.upload": ["上传录音…", "Upload recording…"],
  "audio.replace": ["重新上传…", "Replace…"],
  "audio.uploading": ["正在上传…", "Uploading…"],
  "audio.approve": ["审核通过", "Approve"],
  "audio.unapprove": ["撤销审核", "Take back approval"],
  "audio.tooLarge": ["录音文件超过 20 MB", "the recording exceeds 20 MB"],
  "audio.cannotPlay": ["无法播放这段音频", "This audio cannot be played"],

  "worklist.title": ["录音工作单", "Recording worklist"],
  "worklist.flow": ["流程", "Flow"],
  "worklist.choose": ["— 选择流程 —", "— choose a flow —"],
  "worklist.intro": [
    "列出所选流程（含子流程）中仍是 TTS 占位、尚未审核，或录音后文本又改过的提示。逐条试听、上传录音、审核即可，无需打开画布。",
    "Prompts of the chosen flow (and its sub-flows) that are still TTS placeholders, not yet approved, or recorded before the script changed. Listen, upload and approve one by one — no need to open the canvas.",
  ],
  "worklist.readOnly": ["你的角色只能试听；上传和审核需要录音员或管理员。", "Your role can listen only; uploading and approving needs a recorder or an admin."],
  "worklist.prompt": ["提示", "Prompt"],
  "worklist.language": ["语言", "Language"],
  "worklist.text": ["录音文本", "Script"],
  "worklist.usedBy": ["使用位置", "Used in"],
  "worklist.status": ["状态", "Status"],
  "worklist.actions": ["操作", "Actions"],
  "worklist.noText": ["（没有文本）", "(no script text)"],
  "worklist.remaining": ["还有 {n} 条待处理（共 {total} 条）", "{n} still to do ({total} listed)"],
  "worklist.done": ["这个流程的录音都已审核通过。", "Every recording of this flow is approved."],
  "worklist.numbers": ["包括数字播报（say/…）", "Include number sets (say/…)"],
  "worklist.refresh": ["刷新列表", "Refresh"],
  "worklist.openFlow": ["打开流程", "Open the flow"],
  "worklist.pick": ["请选择一个流程。", "Choose a flow."],

  "entries.title": ["入口管理", "Entries"],
  "entries.intro": [
    "每个入口（呼入号码 / AGI 路径）运行某个流程的某个版本。可以回滚到以前的版本、设置发布要求，或删除入口。",
    "Each entry (dialled number / AGI path) runs one version of a flow. Roll it back to an earlier version, set its publishing policy, or delete it.",
  ],
  "entries.none": ["还没有入口：在编辑器中发布流程时会创建入口。", "No entries yet: publishing a flow in the editor creates one."],
  "entries.runs": ["运行 {flow} 第 {version} 版", "runs {flow} version {version}"],
  "entries.updated": ["{who} 于 {when} 更新", "updated by {who} at {when}"],
  "entries.policy": ["发布时要求录音全部审核通过", "Require approved recordings to publish"],
  "entries.policyHint": [
    "开启后，向此入口发布时，若有提示仍是 TTS 占位或未审核，发布会被拒绝。",
    "When on, publishing to this entry is refused while any prompt is still a TTS placeholder or unapproved.",
  ],
  "entries.policyOn": ["入口 {entry}：发布须录音已审核。", "Entry {entry}: publishing now needs approved recordings."],
  "entries.policyOff": ["入口 {entry}：允许使用 TTS 占位发布。", "Entry {entry}: publishing with TTS placeholders is allowed."],
  "entries.rollbackTo": ["回滚到", "Roll back to"],
  "entries.chooseVersion": ["— 选择版本 —", "— choose a version —"],
  "entries.versionOption": ["第 {version} 版 · {author} · {when}", "Version {version} · {author} · {when}"],
  "entries.rollback": ["回滚…", "Roll back…"],
  "entries.noOther": ["没有其他版本可回滚。", "No other version to roll back to."],
  "entries.delete": ["删除入口…", "Delete entry…"],
  "entries.deleteConfirm": [
    "删除入口 {entry}？之后拨打此入口的来电将找不到流程。",
    "Delete entry {entry}? Calls to it will then find no flow.",
  ],
  "entries.deleted": ["入口 {entry} 已删除。", "Entry {entry} deleted."],
  "entries.history": ["最近记录", "Recent history"],
  "entries.showAll": ["显示全部 {n} 条", "Show all {n}"],
  "entries.action.first": ["首次发布 v{to}", "first published v{to}"],
  "entries.action.publish": ["发布 v{from} → v{to}", "published v{from} → v{to}"],
  "entries.action.rollback": ["回滚 v{from} → v{to}", "rolled back v{from} → v{to}"],
  "entries.action.other": ["{action} v{from} → v{to}", "{action} v{from} → v{to}"],
  "entries.openFlow": ["打开流程", "Open the flow"],
  "entries.readOnly": ["只有管理员可以修改发布要求和删除入口。", "Only admins can change the policy or delete entries."],

  "type.string": ["文本", "text"],
  "type.number": ["数字", "number"],
  "type.boolean": ["是/否", "yes/no"],
  "type.object": ["对象", "object"],
  "type.list": ["列表", "list"],
  "type.any": ["任意", "any"],
} as const;

export type Key = keyof typeof TABLE;

export function translate(lang: Lang, key: Key, vars?: Record<string, string | number>): string {
  const row = TABLE[key];
  let text: string = row ? row[lang === "zh" ? 0 : 1] : key;
  if (vars) {
    for (const [name, value] of Object.entries(vars)) {
      text = text.split(`{${name}}`).join(String(value));
    }
  }
  return text;
}

export interface LangState {
  lang: Lang;
  setLang: (lang: Lang) => void;
}

export const LangContext = createContext<LangState>({ lang: "zh", setLang: () => {} });

export function useLang(): LangState {
  return useContext(LangContext);
}

export type T = (key: Key, vars?: Record<string, string | number>) => string;

export function useT(): T {
  const { lang } = useLang();
  return (key, vars) => translate(lang, key, vars);
}

/** A {zh, en} pair from the server, in the current language. */
export function pick(lang: Lang, pair: { zh?: string; en?: string } | undefined | null, fallback = ""): string {
  if (!pair) return fallback;
  return (lang === "zh" ? pair.zh || pair.en : pair.en || pair.zh) || fallback;
}

/** Messages the server sends as message_zh / message_en. */
export function message(lang: Lang, m: { message_zh?: string; message_en?: string }): string {
  return (lang === "zh" ? m.message_zh || m.message_en : m.message_en || m.message_zh) || "";
}

const CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef";
const SPLIT_SLASH = new RegExp(`^(.*[${CJK}][^/]*?)\\s+/\\s+(.+)$`, "s");
const SPLIT_SENTENCE = new RegExp(`^(.*[${CJK}][)）”"]?)\\s+([A-Za-z(“'"].*)$`, "s");

/** Node schemas carry both languages in one string: "菜单提示 / Menu prompts" (titles) or
 * "中文说明。 English text." (descriptions). Returns the part for `lang`. */
export function bilingual(lang: Lang, text: string | undefined): string | undefined {
  if (!text) return text;
  const m = SPLIT_SLASH.exec(text) || SPLIT_SENTENCE.exec(text);
  if (!m) return text;
  return lang === "zh" ? m[1].trim() : m[2].trim();
}

export function formatTime(lang: Lang, iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}
