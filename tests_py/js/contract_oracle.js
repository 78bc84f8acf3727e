// The contract (../shared/SYNC_DATA_CONTRACT.md) written in plain JavaScript,
// as the API and its clients see it: JSON.stringify, toISOString, SHA-256.
// It is the tests' oracle: golden strings come from here, never from dbt.
// stdin: JSON array of {entity_type, row, users} ; stdout: JSON array of
// {data, checksum} or {reject: "<category>: <column>"}.
'use strict';
const crypto = require('crypto');

class Reject extends Error {
  constructor(category, column) { super(`${category}: ${column}`); this.category = category; this.column = column; }
}

const MAX_MS = 8.64e15;
const isEmpty = (v) => v === null || v === '';
const isBlob = (v) => v !== null && typeof v === 'object' && v.$blob !== undefined;

function iso(ms) { return new Date(ms).toISOString(); }

function parseJson(row, col, kind, whenEmpty) {
  const v = row[col];
  if (isEmpty(v)) return whenEmpty;
  if (typeof v === 'number') throw new Reject('wrong_json_kind', col);
  let parsed;
  try { parsed = JSON.parse(v); } catch (e) { throw new Reject('invalid_json', col); }
  const actual = Array.isArray(parsed) ? 'array' : (parsed === null ? 'null' : typeof parsed);
  if (actual !== kind) throw new Reject('wrong_json_kind', col);
  return parsed;
}

// Unix ms column: number (REAL truncated as new Date does), in Date's range.
function unixMs(row, col, optional) {
  const v = row[col];
  if (optional && (v === null || v === '' || v === 0)) return null;
  if (v === null) throw new Reject('missing_timestamp', col);
  if (typeof v === 'string') throw new Reject('timestamp_not_number', col);
  if (Math.abs(v) > MAX_MS || !Number.isFinite(v)) throw new Reject('timestamp_out_of_range', col);
  return iso(Math.trunc(v));
}

const SPACE_FORM = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;
const ISO_FORM = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;

function datetime(row, col, optional) {
  const v = row[col];
  if (optional && (v === null || v === '' || v === 0)) return null;
  if (v === null) throw new Reject('missing_timestamp', col);
  if (typeof v === 'number') {
    if (Math.abs(v) > MAX_MS || !Number.isFinite(v)) throw new Reject('timestamp_out_of_range', col);
    return iso(Math.trunc(v));
  }
  const m = SPACE_FORM.exec(v) || ISO_FORM.exec(v);
  if (!m) throw new Reject('unreadable_datetime', col);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const ms = Number(((m[7] || '') + '000').slice(0, 3));
  let offset = 0;
  if (m[8] && m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3)), om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) throw new Reject('unreadable_datetime', col);
    offset = (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d ||
      date.getUTCHours() !== h || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== s) {
    throw new Reject('unreadable_datetime', col);
  }
  return iso(date.getTime() - offset * 60000);
}

const orEmpty = (v, dflt) => (isEmpty(v) ? dflt : v);
const orNull = (v, dflt) => (v === null ? dflt : v);

const BUILDERS = {
  logbook_entry(r) {
    const pieces = parseJson(r, 'pieces', 'array', []);
    const techniques = parseJson(r, 'techniques', 'array', []);
    const goalIds = parseJson(r, 'goal_ids', 'array', []);
    const tags = parseJson(r, 'tags', 'array', []);
    const metadata = parseJson(r, 'metadata', 'object', { source: 'manual' });
    for (const c of ['timestamp', 'created_at', 'updated_at']) if (r[c] === null) throw new Reject('missing_timestamp', c);
    const [timestamp, createdAt, updatedAt] = ['timestamp', 'created_at', 'updated_at'].map((c) => unixMs(r, c, false));
    return {
      id: r.id, timestamp, duration: r.duration, type: r.type, instrument: r.instrument,
      pieces, techniques, goalIds, notes: orEmpty(r.notes, null), mood: orEmpty(r.mood, null), tags,
      sessionId: orEmpty(r.session_id, null), metadata, createdAt, updatedAt,
    };
  },
  goal(r) {
    const milestones = parseJson(r, 'milestones', 'array', []);
    const linkedEntries = parseJson(r, 'linked_entries', 'array', []);
    for (const c of ['created_at', 'updated_at']) if (r[c] === null) throw new Reject('missing_timestamp', c);
    for (const c of ['created_at', 'updated_at', 'target_date', 'completed_at']) {
      if (typeof r[c] === 'string' && !(r[c] === '' && (c === 'target_date' || c === 'completed_at'))) throw new Reject('timestamp_not_number', c);
    }
    const targetDate = unixMs(r, 'target_date', true);
    const createdAt = unixMs(r, 'created_at', false);
    const updatedAt = unixMs(r, 'updated_at', false);
    const completedAt = unixMs(r, 'completed_at', true);
    return {
      id: r.id, title: r.title, description: orEmpty(r.description, null), targetDate,
      progress: orNull(r.progress, 0), milestones, status: orEmpty(r.status, 'ACTIVE'), linkedEntries,
      createdAt, updatedAt, completedAt,
    };
  },
  practice_session(r) {
    if (r.started_at === null) throw new Reject('missing_timestamp', 'started_at');
    const startedAt = datetime(r, 'started_at', false);
    const completedAt = datetime(r, 'completed_at', true);
    return {
      id: r.id, instrument: r.instrument, sheetMusicId: orEmpty(r.sheet_music_id, null),
      sessionType: r.session_type, startedAt, completedAt,
      pausedDuration: orNull(r.paused_duration, 0), accuracyPercentage: r.accuracy_percentage,
      notesAttempted: orNull(r.notes_attempted, 0), notesCorrect: orNull(r.notes_correct, 0),
    };
  },
};

function migrate({ entity_type: type, row, user_exists: userExists }) {
  try {
    if (row.id === null) throw new Reject('missing_id', 'id');
    for (const [col, v] of Object.entries(row)) if (isBlob(v)) throw new Reject('unsupported_value', col);
    const doc = BUILDERS[type](row);
    if (row.user_id === null || !userExists) throw new Reject('orphan_user', 'user_id');
    const data = JSON.stringify(doc);
    return { data, checksum: crypto.createHash('sha256').update(data, 'utf8').digest('hex') };
  } catch (e) {
    if (e instanceof Reject) return { reject: e.message };
    throw e;
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(migrate)));
});
