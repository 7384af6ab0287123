// A board as the server confirmed it (snapshot + events, in version order) and, on top of it, the
// commands this browser sent or queued but has not yet seen come back. The view is recomputed from
// both, so a rejected command simply drops out of `pending` and the board rolls back.
import { applyChecklistEvent, applyChecklistIntent } from "./checklist_model.js";

const byPosition = (a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class ResyncNeeded extends Error {}

export class BoardModel {
  constructor(boardId) {
    this.boardId = boardId;
    this.version = null;
    this.board = null;
    this.columns = new Map();
    this.cards = new Map();
    this.pending = [];
  }

  loadSnapshot(version, detail) {
    const { board, cards } = detail;
    this.version = version;
    this.board = { ...board, columns: undefined };
    this.columns = new Map(board.columns.map((c) => [c.column_id, { ...c }]));
    this.cards = new Map(cards.map((c) => [c.card_id, { ...c }]));
    this.settle();
  }

  // Returns false when the events do not follow on from what we hold.
  applyEvents(events) {
    const decided = new Set();
    for (const event of events) {
      if (this.version !== null && event.version <= this.version) continue;
      if (this.version === null || event.version !== this.version + 1) return false;
      this.apply(event);
      // The version that last touched a card, as the read model's `version` says (time travel
      // marks the cards changed since the version it shows).
      const touched = event.payload.card_id && this.cards.get(event.payload.card_id);
      if (touched) touched.version = event.version;
      this.version = event.version;
      this.board.version = event.version;
      decided.add(event.command_id);
    }
    // A command of ours whose events are confirmed is done, whether or not its HTTP answer has
    // arrived: replaying its intent on top would put things where we guessed, not where the
    // server put them (which may differ once someone else's command came in between).
    this.pending = this.pending.filter((entry) => !decided.has(entry.command.command_id));
    this.settle();
    return true;
  }

  apply({ type, payload: p }) {
    const card = p.card_id ? this.cards.get(p.card_id) : undefined;
    const column = p.column_id ? this.columns.get(p.column_id) : undefined;
    switch (type) {
      case "BoardCreated": this.board.title = p.title; break;
      case "BoardRenamed": this.board.title = p.title; break;
      case "BoardArchived": this.board.archived = true; break;
      case "BoardRestored": this.board.archived = false; break;
      case "ColumnAdded": this.columns.set(p.column_id, { column_id: p.column_id, title: p.title, position: p.position, archived: false }); break;
      case "ColumnRenamed": if (column) column.title = p.title; break;
      case "ColumnMoved": if (column) column.position = p.position; break;
      case "ColumnArchived": if (column) column.archived = true; break;
      case "ColumnRestored":
        // The snapshot leaves archived columns (and their cards) out; one we never saw needs a
        // fresh snapshot. One we saw archived still has its cards: archiving left them open.
        if (!column) throw new ResyncNeeded(p.column_id);
        Object.assign(column, { archived: false, position: p.position });
        break;
      case "ColumnsRebalanced": for (const { id, position } of p.positions) { const c = this.columns.get(id); if (c) c.position = position; } break;
      case "CardAdded":
        this.cards.set(p.card_id, {
          card_id: p.card_id, column_id: p.column_id, position: p.position, title: p.title,
          description: p.description ?? "", labels: p.labels ?? [], assignees: p.assignees ?? [],
          due_date: p.due_date ?? null, archived: false, checklist: [], progress: { done: 0, total: 0 },
        });
        break;
      case "CardEdited": if (card) for (const change of p.changes) card[change.field] = change.after; break;
      case "CardMoved": if (card) { card.column_id = p.to_column_id; card.position = p.position; } break;
      case "CardsRebalanced": for (const { id, position } of p.positions) { const c = this.cards.get(id); if (c) c.position = position; } break;
      case "CardArchived": if (card) card.archived = true; break;
      case "CardRestored":
        // The snapshot leaves archived cards out; one we never saw needs a fresh snapshot.
        if (!card) throw new ResyncNeeded(p.card_id);
        Object.assign(card, { archived: false, column_id: p.column_id, position: p.position });
        break;
      case "MemberAdded": this.board.members = [...this.board.members.filter((m) => m.user_id !== p.user_id), { user_id: p.user_id, role: p.role, email: p.profile?.email ?? null, name: p.profile?.name ?? null }]; break;
      case "MemberRoleChanged": this.board.members = this.board.members.map((m) => (m.user_id === p.user_id ? { ...m, role: p.role } : m)); break;
      case "MemberRemoved": this.board.members = this.board.members.filter((m) => m.user_id !== p.user_id); break;
      case "CommentAdded": if (card) card.comments = (card.comments ?? 0) + 1; break;
      case "CommentDeleted": if (card) card.comments = Math.max((card.comments ?? 0) - 1, 0); break;
      case "ColumnWipLimitChanged": if (column) column.wip_limit = p.limit; break;
      case "WipPolicyChanged": this.board.wip_policy = p.policy; break;
      default: if (card) applyChecklistEvent(card, type, p); break;
    }
  }

  // Acknowledged commands leave `pending` once the confirmed state has reached their version.
  settle() {
    if (this.version === null) return;
    this.pending = this.pending.filter((entry) => !(entry.state === "acked" && entry.ackVersion <= this.version));
  }

  add(entry) {
    this.pending.push(entry);
  }

  drop(entry) {
    this.pending = this.pending.filter((e) => e !== entry);
  }

  get queued() {
    return this.pending.filter((e) => e.state !== "acked").length;
  }

  view() {
    if (!this.board) return null;
    const all = [...this.columns.values()].map((c) => ({ ...c, id: c.column_id })).sort(byPosition);
    const columns = all.filter((c) => !c.archived);
    const lists = new Map(all.map((c) => [c.column_id, []]));
    const cards = [...this.cards.values()].filter((c) => !c.archived).map((c) => ({ ...c, id: c.card_id })).sort(byPosition);
    for (const card of cards) lists.get(card.column_id)?.push(card);
    // Archived columns we know, with their open cards, for a pending RestoreColumn to bring back.
    const shelved = new Map(all.filter((c) => c.archived).map((c) => [c.column_id, { column: c, cards: lists.get(c.column_id) }]));
    for (const id of shelved.keys()) lists.delete(id);
    const view = { board: { ...this.board, members: [...this.board.members] }, columns, lists, shelved };
    for (const entry of this.pending) applyIntent(view, entry.command);
    return view;
  }
}

function place(list, item, after, before) {
  let index = list.length;
  if (after) {
    const at = list.findIndex((x) => x.id === after);
    if (at >= 0) index = at + 1;
  } else if (before) {
    const at = list.findIndex((x) => x.id === before);
    if (at >= 0) index = at;
  }
  list.splice(index, 0, item);
}

function takeCard(view, cardId) {
  for (const list of view.lists.values()) {
    const at = list.findIndex((c) => c.id === cardId);
    if (at >= 0) return list.splice(at, 1)[0];
  }
  return null;
}

function findCard(view, cardId) {
  for (const list of view.lists.values()) {
    const card = list.find((c) => c.id === cardId);
    if (card) return card;
  }
  return null;
}

// The same intents the server decides, applied to lists: no order keys are invented here.
function applyIntent(view, { type, payload: p }) {
  switch (type) {
    case "RenameBoard": view.board.title = p.title; break;
    case "ArchiveBoard": view.board.archived = true; break;
    case "RestoreBoard": view.board.archived = false; break;
    case "AddColumn": {
      if (view.lists.has(p.column_id)) break;
      const column = { column_id: p.column_id, id: p.column_id, title: p.title, archived: false };
      place(view.columns, column, p.after_column_id, p.before_column_id);
      view.lists.set(p.column_id, []);
      break;
    }
    case "RenameColumn": { const c = view.columns.find((x) => x.id === p.column_id); if (c) c.title = p.title; break; }
    case "MoveColumn": {
      const at = view.columns.findIndex((x) => x.id === p.column_id);
      if (at < 0) break;
      const [column] = view.columns.splice(at, 1);
      place(view.columns, column, p.after_column_id, p.before_column_id);
      break;
    }
    case "ArchiveColumn": {
      const column = view.columns.find((x) => x.id === p.column_id);
      if (!column) break;
      view.shelved.set(p.column_id, { column, cards: view.lists.get(p.column_id) ?? [] });
      view.columns = view.columns.filter((x) => x.id !== p.column_id);
      view.lists.delete(p.column_id);
      break;
    }
    case "RestoreColumn": {
      const shelved = view.shelved.get(p.column_id);
      if (!shelved) break;
      view.shelved.delete(p.column_id);
      // Where the server puts it: before the first active column whose key sorts after its old key.
      const at = view.columns.findIndex((x) => x.position !== undefined && x.position > shelved.column.position);
      view.columns.splice(at < 0 ? view.columns.length : at, 0, { ...shelved.column, archived: false });
      view.lists.set(p.column_id, shelved.cards);
      break;
    }
    case "AddCard": {
      const list = view.lists.get(p.column_id);
      if (!list || findCard(view, p.card_id)) break;
      place(list, { card_id: p.card_id, id: p.card_id, column_id: p.column_id, title: p.title, description: p.description ?? "", labels: p.labels ?? [], assignees: p.assignees ?? [], due_date: p.due_date ?? null, pending: true }, p.after_card_id, p.before_card_id);
      break;
    }
    case "EditCard": {
      const card = findCard(view, p.card_id);
      if (card) for (const field of ["title", "description", "labels", "assignees", "due_date"]) if (field in p) card[field] = p[field];
      break;
    }
    case "MoveCard": {
      const target = view.lists.get(p.column_id);
      if (!target) break;
      const card = takeCard(view, p.card_id);
      if (!card) break;
      place(target, { ...card, column_id: p.column_id }, p.after_card_id, p.before_card_id);
      break;
    }
    case "ArchiveCard": takeCard(view, p.card_id); break;
    case "AddMember": view.board.members = [...view.board.members.filter((m) => m.user_id !== p.user_id), { user_id: p.user_id, role: p.role, email: p.email ?? null, name: p.name ?? null }]; break;
    case "ChangeMemberRole": view.board.members = view.board.members.map((m) => (m.user_id === p.user_id ? { ...m, role: p.role } : m)); break;
    case "RemoveMember": view.board.members = view.board.members.filter((m) => m.user_id !== p.user_id); break;
    case "ChangeColumnWipLimit": { const c = view.columns.find((x) => x.id === p.column_id); if (c) c.wip_limit = p.limit; break; }
    case "ChangeWipPolicy": view.board.wip_policy = p.policy; break;
    default: {
      const card = p.card_id ? findCard(view, p.card_id) : null;
      if (card) applyChecklistIntent(card, type, p);
      break;
    }
  }
}
