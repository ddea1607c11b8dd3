//! The operations: the seven pull-to-push calls as functions over (store, parameters, now), each
//! checked through [`crate::rules`] exactly as validation and planning check them. No I/O and no
//! clock reads: the server passes `now` and learns whether the store changed (to make it durable).

use serde::Serialize;
use serde_json::Value;

use super::ApiFault;
use super::store::{ListFilter, Store};
use super::task::SeedTask;
use crate::api::models::{DescribeResponse, ListResponse, RetCodeResponse, TaskIdResponse};
use crate::model::{ApiTime, Field, Region, TaskStatus, Update};
use crate::rules::{self, LiveTask, NewTask, Severity, Violation, code};

/// The request parameters, query and form body merged (the first occurrence of a name wins).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, ApiFault> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiFault::missing(name)),
        }
    }
}

fn fault(v: Violation) -> ApiFault {
    ApiFault::bad(v.code, v.message)
}

fn first_error(vs: Vec<Violation>) -> Result<(), ApiFault> {
    match vs.into_iter().find(|v| v.severity == Severity::Error) {
        Some(v) => Err(fault(v)),
        None => Ok(()),
    }
}

fn opt<T>(
    p: &Params,
    name: &str,
    parse: impl Fn(&str) -> Result<T, Violation>,
) -> Result<Option<T>, ApiFault> {
    p.get(name).map(parse).transpose().map_err(fault)
}

fn opt_int(p: &Params, field: Field) -> Result<Option<i32>, ApiFault> {
    opt(p, field.name(), |s| rules::parse_int(field, s))
}

fn ok_ret(request_id: &str) -> Value {
    json(&RetCodeResponse {
        request_id: request_id.into(),
        ret_code: 0,
        description: "OK".into(),
    })
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn not_exist(id: &str) -> ApiFault {
    ApiFault::bad(
        code::TASK_NOT_EXIST,
        format!("The task {id} does not exist."),
    )
}

impl Store {
    /// Runs one operation. Returns the response body, and whether the store changed (so that
    /// the caller knows to persist).
    pub fn execute(
        &mut self,
        action: &str,
        p: &Params,
        now: ApiTime,
        request_id: &str,
        new_id: impl FnOnce() -> String,
    ) -> Result<(Value, bool), ApiFault> {
        use crate::api::models::action as a;
        match action {
            a::CREATE => self.create(p, now, request_id, new_id).map(|v| (v, true)),
            a::UPDATE => self.update(p, now, request_id).map(|v| (v, true)),
            a::DELETE => self.delete(p, request_id).map(|v| (v, true)),
            a::DESCRIBE => self.describe(p, now, request_id).map(|v| (v, false)),
            a::DESCRIBE_LIST => self.list(p, now, request_id).map(|v| (v, false)),
            a::STOP => self.stop(p, now, request_id),
            a::RESTART => self.restart(p, now, request_id),
            other => Err(ApiFault::new(
                404,
                "InvalidAction.NotFound",
                format!("Specified api {other} is not found, please check your url and method."),
            )),
        }
    }

    /// TaskId and Region, required by every operation on one task.
    fn target(p: &Params) -> Result<(String, Region), ApiFault> {
        let id = p.required(Field::TaskId.name())?.to_string();
        let region = rules::parse_region(p.required(Field::Region.name())?).map_err(fault)?;
        if let Some(v) = rules::check_task_id(&id) {
            return Err(fault(v));
        }
        Ok((id, region))
    }

    fn create(
        &mut self,
        p: &Params,
        now: ApiTime,
        request_id: &str,
        new_id: impl FnOnce() -> String,
    ) -> Result<Value, ApiFault> {
        let region = rules::parse_region(p.required("Region")?).map_err(fault)?;
        let source_type = rules::parse_source_type(p.required("SourceType")?).map_err(fault)?;
        let source_urls =
            rules::parse_source_urls_json(p.required("SourceUrls")?).map_err(fault)?;
        let dst_url = p.required("DstUrl")?.to_string();
        let start_time =
            rules::parse_time(Field::StartTime, p.required("StartTime")?).map_err(fault)?;
        let end_time = rules::parse_time(Field::EndTime, p.required("EndTime")?).map_err(fault)?;
        let int = |name: &'static str| -> Result<Option<i32>, ApiFault> {
            p.get(name)
                .map(|s| rules::parse_whole(name, s))
                .transpose()
                .map_err(|m| ApiFault::bad(code::INVALID_PARAMETER, m))
        };
        let t = NewTask {
            region,
            source_type,
            source_protocol: p.get("SourceProtocol").map(str::to_string),
            source_urls,
            dst_url,
            start_time,
            end_time,
            task_name: p.get("TaskName").map(str::to_string),
            callback_url: p.get("CallbackUrl").map(str::to_string),
            repeat_number: opt_int(p, Field::RepeatNumber)?,
            offset: opt_int(p, Field::Offset)?,
            file_index: opt_int(p, Field::FileIndex)?,
            retry_count: int("RetryCount")?,
            retry_interval: int("RetryInterval")?,
        };
        if let Some(v) = rules::check_create(&t, now).into_iter().next() {
            return Err(ApiFault::bad(v.code, v.message));
        }
        let task_id = new_id();
        let task = SeedTask {
            task_id: task_id.clone(),
            region: t.region,
            task_name: t.task_name.unwrap_or_default(),
            source_type: t.source_type,
            source_protocol: t.source_protocol.unwrap_or_default(),
            source_urls: t.source_urls,
            dst_url: t.dst_url,
            start_time: t.start_time,
            end_time: t.end_time,
            callback_url: t.callback_url.unwrap_or_default(),
            repeat_number: t.repeat_number.unwrap_or(0),
            offset: t.offset.unwrap_or(0),
            file_index: t.file_index.unwrap_or(0),
            retry_count: t.retry_count.unwrap_or(rules::RETRY_COUNT_DEFAULT),
            retry_interval: t.retry_interval.unwrap_or(rules::RETRY_INTERVAL_DEFAULT),
            task_status: TaskStatus::NotStarted,
            task_exit_reason: None,
            task_exit_time: None,
            restarted_at: None,
        };
        self.seed(vec![task])
            .map_err(|e| ApiFault::new(500, "InternalError", e.to_string()))?;
        Ok(json(&TaskIdResponse {
            request_id: request_id.into(),
            task_id,
            ret_code: Some(0),
            description: Some("OK".into()),
        }))
    }

    /// Reads an Update request into the same typed [`Update`] a manifest produces: the task it
    /// names, then every other parameter the field table says is sent, in the table's order (the
    /// first one that does not parse is the one refused).
    fn parse_update(p: &Params) -> Result<Update, ApiFault> {
        let (id, region) = Store::target(p)?;
        let mut u = Update::new(id, region);
        let sent = Field::ALL
            .into_iter()
            .filter(|f| f.role().is_sent() && !f.is_required());
        for f in sent {
            if let Some(v) = opt(p, f.name(), |s| rules::parse_wire(f, s))? {
                u.set(f, v);
            }
        }
        Ok(u)
    }

    fn update(&mut self, p: &Params, now: ApiTime, request_id: &str) -> Result<Value, ApiFault> {
        let u = Store::parse_update(p)?;
        first_error(rules::check_offline(&u, now))?;
        let status = {
            let t = self.get(&u.task_id).ok_or_else(|| not_exist(&u.task_id))?;
            self.status_of(t, now)
        };
        let task = self
            .get_mut(&u.task_id)
            .ok_or_else(|| not_exist(&u.task_id))?;
        if u.region != task.region
            && let Some(v) = rules::blocked_in_state(Field::Region, status)
        {
            return Err(fault(v));
        }
        let live = LiveTask {
            status,
            source_type: Some(task.source_type),
            start_time: Some(task.start_time),
            end_time: Some(task.end_time),
            source_urls: task.source_urls.clone(),
        };
        first_error(rules::check_against_live(&u, &live, now))?;
        task.region = u.region;
        task.apply(&u);
        Ok(ok_ret(request_id))
    }

    fn delete(&mut self, p: &Params, request_id: &str) -> Result<Value, ApiFault> {
        let (id, _) = Store::target(p)?;
        self.remove(&id).ok_or_else(|| not_exist(&id))?;
        Ok(ok_ret(request_id))
    }

    fn describe(&self, p: &Params, now: ApiTime, request_id: &str) -> Result<Value, ApiFault> {
        // Describe names the task by TaskId *and* Region (both required): a task in another
        // region is not found, as DescribeList pages only the region asked for. Update finds a
        // task by its ID alone, since its Region is the one to move the task to.
        let (id, region) = Store::target(p)?;
        let t = self
            .get(&id)
            .filter(|t| t.region == region)
            .ok_or_else(|| not_exist(&id))?;
        Ok(json(&DescribeResponse {
            request_id: request_id.into(),
            ret_code: 0,
            description: "OK".into(),
            task: self.state_of(t, now),
        }))
    }

    fn list(&self, p: &Params, now: ApiTime, request_id: &str) -> Result<Value, ApiFault> {
        let region = rules::parse_region(p.required("Region")?).map_err(fault)?;
        let page_number = p
            .get("PageNumber")
            .map(|s| rules::parse_whole("PageNumber", s))
            .transpose()
            .map_err(|_| {
                ApiFault::bad(
                    code::INVALID_PARAMETER,
                    "PageNumber must be a whole number of 1 or more",
                )
            })?
            .unwrap_or(1);
        let page_size = p
            .get("PageSize")
            .map(|s| rules::parse_whole("PageSize", s))
            .transpose()
            .map_err(|_| {
                ApiFault::bad(
                    code::INVALID_PARAMETER,
                    "PageSize must be a whole number from 1 to 100",
                )
            })?
            .unwrap_or(10);
        if page_number < 1 {
            return Err(ApiFault::bad(
                code::INVALID_PARAMETER,
                format!("PageNumber {page_number} must be 1 or more"),
            ));
        }
        if !(1..=100).contains(&page_size) {
            return Err(ApiFault::bad(
                code::INVALID_PARAMETER,
                format!("PageSize {page_size} must be from 1 to 100"),
            ));
        }
        let filt = |name: &str| p.get(name).filter(|s| !s.is_empty());
        let filter = ListFilter {
            task_id: filt("TaskId"),
            task_name: filt("TaskName"),
            dst_url: filt("DstUrl"),
        };
        let skip = (page_number as usize - 1).saturating_mul(page_size as usize);
        let (total, page) = self.list_page(region, &filter, skip, page_size as usize);
        Ok(json(&ListResponse {
            request_id: request_id.into(),
            page_number: page_number as u32,
            page_size: page_size as u32,
            total: total as u64,
            task_list: page.into_iter().map(|t| self.state_of(t, now)).collect(),
        }))
    }

    fn id_reply(request_id: &str, id: String) -> Value {
        json(&TaskIdResponse {
            request_id: request_id.into(),
            task_id: id,
            ret_code: None,
            description: None,
        })
    }

    /// Stop affects running tasks only; on others it succeeds and changes nothing.
    fn stop(
        &mut self,
        p: &Params,
        now: ApiTime,
        request_id: &str,
    ) -> Result<(Value, bool), ApiFault> {
        let (id, _) = Store::target(p)?;
        let status = {
            let t = self.get(&id).ok_or_else(|| not_exist(&id))?;
            self.status_of(t, now)
        };
        let t = self.get_mut(&id).ok_or_else(|| not_exist(&id))?;
        let changed = status.is_running();
        if changed {
            t.task_status = TaskStatus::Stopped;
        }
        Ok((Store::id_reply(request_id, id), changed))
    }

    /// Restart (re)starts a stopped or running task with its latest configuration; before
    /// `StartTime` it has no effect; an ended task cannot be restarted.
    fn restart(
        &mut self,
        p: &Params,
        now: ApiTime,
        request_id: &str,
    ) -> Result<(Value, bool), ApiFault> {
        let (id, _) = Store::target(p)?;
        let status = {
            let t = self.get(&id).ok_or_else(|| not_exist(&id))?;
            self.status_of(t, now)
        };
        let t = self.get_mut(&id).ok_or_else(|| not_exist(&id))?;
        let changed = match status {
            TaskStatus::Exited => {
                return Err(ApiFault::bad(
                    code::INVALID_PARAMETER,
                    format!("The task {id} has ended and cannot be restarted."),
                ));
            }
            TaskStatus::NotStarted => false,
            _ => {
                t.task_status = TaskStatus::Running;
                t.restarted_at = Some(now.unix());
                true
            }
        };
        Ok((Store::id_reply(request_id, id), changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::task::tests::{entry, t};
    use crate::emulator::task::{SourcePattern, Unreachable};

    const BAD: &str = "https://bad.example/live/a.flv";
    const GOOD: &str = "https://good.example/live/a.flv";

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn call(store: &mut Store, action: &str, pairs: &[(&str, &str)], now: &str) -> Value {
        store
            .execute(action, &params(pairs), t(now), "req", || "new".into())
            .unwrap_or_else(|f| panic!("{action}: {f:?}"))
            .0
    }

    /// (TaskStatus, TaskInvalidReason) as Describe and as DescribeList report them.
    fn reported(store: &mut Store, now: &str) -> [(i64, String); 2] {
        use crate::api::models::action as a;
        let one = call(
            store,
            a::DESCRIBE,
            &[("TaskId", "task-1"), ("Region", "cn-beijing")],
            now,
        );
        let list = call(store, a::DESCRIBE_LIST, &[("Region", "cn-beijing")], now);
        // Describe's answer is the task's state itself; an empty reason is left out.
        [&one, &list["TaskList"][0]].map(|s| {
            (
                s["TaskStatus"].as_i64().unwrap(),
                s["TaskInvalidReason"].as_str().unwrap_or("").to_string(),
            )
        })
    }

    #[test]
    fn describe_and_list_report_an_unreachable_source_until_a_restart_on_a_good_one() {
        use crate::api::models::action as a;
        let (mut u, mut ann) = entry();
        u.source_urls = Some(vec![BAD.into()]);
        ann.insert("x-TaskStatus".into(), "1".into());
        let task = crate::emulator::seed::from_entry(&u, &ann, t("2026-02-01T00:00:00Z")).unwrap();
        let mut store = Store::new();
        store.seed(vec![task]).unwrap();
        store.set_unreachable(Unreachable::new(vec![
            SourcePattern::parse("https://bad.example/*").unwrap(),
        ]));
        let abnormal = (2, "PullStreamFailed".to_string());
        let normal = (1, String::new());
        assert_eq!(
            reported(&mut store, "2026-03-01T10:00:00Z"),
            [abnormal.clone(), abnormal.clone()]
        );
        // Stop → Update to a good source → Restart: running normally, at once and later.
        let id = [("TaskId", "task-1"), ("Region", "cn-beijing")];
        call(&mut store, a::STOP, &id, "2026-03-01T10:00:00Z");
        let good = serde_json::to_string(&[GOOD]).unwrap();
        let mut update = id.to_vec();
        update.push(("SourceUrls", &good));
        call(&mut store, a::UPDATE, &update, "2026-03-01T10:00:00Z");
        call(&mut store, a::RESTART, &id, "2026-03-01T10:00:00Z");
        for now in ["2026-03-01T10:00:00Z", "2026-03-01T10:00:05Z"] {
            assert_eq!(reported(&mut store, now), [normal.clone(), normal.clone()]);
        }
        // And back to the bad one: running right after the restart, abnormal a second later.
        call(&mut store, a::STOP, &id, "2026-03-01T11:00:00Z");
        let bad = serde_json::to_string(&[BAD]).unwrap();
        let mut update = id.to_vec();
        update.push(("SourceUrls", &bad));
        call(&mut store, a::UPDATE, &update, "2026-03-01T11:00:00Z");
        assert_eq!(
            reported(&mut store, "2026-03-01T11:00:05Z")[0].0,
            3,
            "stopped, the bad source breaks nothing"
        );
        call(&mut store, a::RESTART, &id, "2026-03-01T11:00:10Z");
        assert_eq!(
            reported(&mut store, "2026-03-01T11:00:10Z"),
            [normal.clone(), normal]
        );
        assert_eq!(
            reported(&mut store, "2026-03-01T11:00:11Z"),
            [abnormal.clone(), abnormal]
        );
    }
}
