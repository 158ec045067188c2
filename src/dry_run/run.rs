//! One dry-run on its target, as a type with steps: warnings about the server, the starting
//! state (`--schema-from`, `--from-backup`), the setup prefix (from the template or applied and
//! then cached), the migration files, and the report.

use super::*;

/// One dry-run on its target, as steps: warnings about the server, the starting state, the
/// setup prefix (from the template or applied and cached), the migration files, the report.
pub(super) struct Run<'a> {
    pub(super) settings: &'a DryRunSettings,
    pub(super) migs: &'a [Migration],
    pub(super) statics: &'a [MigrationReport],
    pub(super) roles: &'a mut [Role],
    /// How many leading setup migrations go into (or come from) the template.
    pub(super) prefix: usize,
    pub(super) target: &'a mut Target,
    pub(super) template: &'a mut Option<(TemplateStore, String, Option<PathBuf>)>,
    pub(super) warnings: &'a mut Vec<String>,
    pub(super) on_progress: &'a mut dyn FnMut(usize, usize),
    pub(super) kind: EngineKind,
    /// MySQL-protocol runs: the vendor the migrations are written for.
    pub(super) target_vendor: Option<vendor::Vendor>,
    /// What the starting database has applied.
    pub(super) applied: Option<Applied>,
    pub(super) done: usize,
    pub(super) failed: bool,
    pub(super) runs: Vec<MigrationRun>,
    pub(super) summary: RunSummary,
}

impl Run<'_> {
    /// Every step, in order.
    pub(super) async fn steps(
        mut self,
        backup: Option<&Path>,
        live_major: Option<u32>,
        t_start: Instant,
    ) -> Result<DryRunReport, DryRunError> {
        if let (Some(required), EngineKind::Mysql) = (self.settings.require_server, self.kind)
            && let Some(why) = vendor::refusal(required, &self.target.server_version)
        {
            return Err(DryRunError::Input(why));
        }
        self.server_warnings(live_major);
        self.load_start(backup).await?;
        let sess = session(self.target).await?;
        // the server is up: a run killed from here on has said that it started
        (self.on_progress)(0, self.migs.len());
        let (mut sess, template_info) = self.setup_prefix(sess).await?;
        let startup_ms = ms(t_start.elapsed());
        let seeded = self.run_files(&mut sess).await;
        sess.close().await;
        Ok(self.report(startup_ms, template_info, seeded?))
    }

    /// The server differs from the target version or the live server.
    fn server_warnings(&mut self, live_major: Option<u32>) {
        let server_major: Option<u32> = self
            .target
            .server_version
            .split(['.', ' '])
            .next()
            .and_then(|m| m.parse().ok());
        if self.kind == EngineKind::Postgres {
            if let (Some(t), Some(s)) = (self.settings.check.target_version, server_major)
                && t.major != s
            {
                self.warnings.push(format!("the dry-run server is PostgreSQL {s}, but --target-version is {t}: install PostgreSQL {} and pass its bin folder with --pg-bin-dir", t.major));
            }
            if let (Some(l), Some(s)) = (live_major, server_major)
                && l != s
            {
                self.warnings.push(format!("the live server is PostgreSQL {l}, but the dry-run server is {s}: lock and rewrite behaviour can differ; install PostgreSQL {l} and pass --pg-bin-dir"));
            }
        } else if self.kind == EngineKind::Mysql
            && let Some(t) = self.settings.check.target_version
            // another vendor's release numbers say nothing: the server mismatch report covers it
            && self.target_vendor == Some(vendor::Vendor::of_server(&self.target.server_version))
            && !self
                .target
                .server_version
                .starts_with(&format!("{}.{}", t.major, t.minor))
        {
            self.warnings.push(format!("the dry-run server is {}, but --target-version is {t}: online DDL support differs between versions", self.target.server_version));
        }
        if self.kind == EngineKind::Mysql {
            self.warnings.push("MySQL/MariaDB DDL commits implicitly: a failing file leaves the statements before the failure applied (each statement says whether it took effect)".into());
        }
    }

    /// Brings the database to its starting state (schema of the live database, a backup, or
    /// nothing) and marks what it has applied.
    async fn load_start(&mut self, backup: Option<&Path>) -> Result<(), DryRunError> {
        // the starting state
        match &self.settings.start {
            Start::SchemaFrom(url) if self.kind == EngineKind::Postgres => {
                let install = self.target.pg_install.clone().ok_or_else(|| {
                    DryRunError::Input("PostgreSQL client tools not found for --schema-from".into())
                })?;
                let dir = tempfile_dir()?;
                let dump = dir.path().join("schema.sql");
                let hist = self.applied.as_ref().map(|a| a.table.clone());
                let loaded = postgres::dry_run::dump_schema(&install, url, hist.as_deref(), &dump)
                    .and_then(|_| postgres::dry_run::restore(&install, &self.target.url(), &dump));
                drop(dir);
                loaded?;
            }
            Start::SchemaFrom(url) if self.kind == EngineKind::Sqlite => {
                // the copy holds data too: keep only the history rows, as a schema-only clone would
                let mut c = self.target.connect().await?;
                let hist = self
                    .migs
                    .first()
                    .map(|m| m.layout.history_table())
                    .unwrap_or("");
                let cat = sqlite::dry_run::catalog(&mut c)
                    .await
                    .map_err(|e| ObserveError(e.to_string()))?;
                let _ = c.execute("PRAGMA foreign_keys = OFF").await;
                for t in cat.tables.keys().filter(|t| t.as_str() != hist) {
                    c.execute(&format!("DELETE FROM {}", sqlite::dry_run::ident(t)))
                        .await
                        .map_err(|e| {
                            EngineError::step(format!("emptying {t} in the copy of {url}"), e)
                        })?;
                }
                let _ = c.execute("PRAGMA foreign_keys = ON").await;
                if let Some(l) = self.migs.first().map(|m| m.layout) {
                    self.applied = history::read(&mut c, l).await;
                }
                c.close().await;
            }
            Start::SchemaFrom(url) => {
                let socket = self
                    .target
                    .mysql_socket()
                    .ok_or_else(|| {
                        DryRunError::Input(
                            "--schema-from with --scratch-url is supported for PostgreSQL only"
                                .into(),
                        )
                    })?
                    .to_path_buf();
                let dir = tempfile_dir()?;
                let dump = dir.path().join("schema.sql");
                let hist = self.applied.as_ref().map(|a| a.table.clone());
                let loaded = mysql::dry_run::dump_schema(url, hist.as_deref(), &dump)
                    .and_then(|_| mysql::dry_run::restore_sql(&socket, target::MYSQL_DB, &dump));
                drop(dir);
                loaded?;
            }
            Start::FromBackup(_) => {
                match (self.kind, backup) {
                    (EngineKind::Postgres, Some(file)) => {
                        let install = self.target.pg_install.clone().ok_or_else(|| {
                            DryRunError::Input(
                                "PostgreSQL client tools not found for --from-backup".into(),
                            )
                        })?;
                        postgres::dry_run::restore(&install, &self.target.url(), file)?;
                    }
                    (EngineKind::Mysql, Some(file)) => {
                        let socket = self.target.mysql_socket().ok_or_else(|| {
                            DryRunError::Input(
                                "--from-backup with --scratch-url is supported for PostgreSQL only"
                                    .into(),
                            )
                        })?;
                        mysql::dry_run::restore_sql(socket, target::MYSQL_DB, file)?;
                    }
                    _ => {}
                }
                let mut c = self.target.connect().await?;
                if let Some(l) = self.migs.first().map(|m| m.layout) {
                    self.applied = history::read(&mut c, l).await;
                    if self.applied.is_none() {
                        self.warnings.push(format!("the backup has no readable {} table: every migration is applied on top of it", l.history_table()));
                    }
                }
                c.close().await;
            }
            Start::Scratch => {}
        }
        if matches!(
            self.settings.start,
            Start::FromBackup(_) | Start::SchemaFrom(_)
        ) {
            for (r, m) in self.roles.iter_mut().zip(self.migs) {
                if self.applied.as_ref().is_some_and(|a| a.contains(m)) {
                    *r = Role::InDatabase;
                }
            }
            if let Some(d) = self.applied.as_ref().and_then(|a| a.dirty.clone()) {
                self.warnings.push(format!(
                    "the history table marks migration {d} as failed/dirty"
                ));
            }
        }
        Ok(())
    }

    /// Applies the leading setup migrations, or takes them from the template; stores a new
    /// template. Returns the template record and a fresh session.
    async fn setup_prefix(
        &mut self,
        mut sess: Session,
    ) -> Result<(Session, Option<TemplateInfo>), DryRunError> {
        // setup prefix: from the self.template, or self.applied now and then stored as the self.template
        let mut template_info: Option<TemplateInfo> = None;
        let t_setup = Instant::now();
        let hit =
            self.template.as_ref().is_some_and(|t| t.2.is_some()) && self.target.from_template();
        if hit {
            self.summary.setup += self.prefix;
            self.done += self.prefix;
            (self.on_progress)(self.done, self.migs.len());
        } else {
            for i in 0..self.prefix {
                if let Some(run) = run_setup(
                    &mut sess,
                    &self.migs[i],
                    &self.statics[i],
                    self.kind.dialect(),
                )
                .await?
                {
                    self.runs.push(run);
                    self.failed = true;
                    self.summary.failed += 1;
                    self.done = i + 1;
                    break;
                }
                self.summary.setup += 1;
                self.done = i + 1;
                (self.on_progress)(self.done, self.migs.len());
            }
        }
        self.summary.setup_ms = if hit { 0.0 } else { ms(t_setup.elapsed()) };
        if let Some((store, key, found)) = self.template.as_ref() {
            let mut saved = false;
            if !hit && !self.failed {
                let meta = serde_json::json!({"engine": self.kind.as_str(), "server_version": self.target.server_version, "setup_migrations": self.prefix});
                let r = self
                    .target
                    .with_stopped_data_dir(|data| store.save(key, data, &meta))
                    .await?;
                match r {
                    Some(Ok(())) => saved = true,
                    Some(Err(e)) => self.warnings.push(format!(
                        "could not store the template in {}: {e}",
                        store.root().display()
                    )),
                    None => {}
                }
                sess = session(self.target).await?;
            }
            template_info = Some(TemplateInfo {
                key: key.clone(),
                hit: hit && found.is_some(),
                saved,
                migrations: self.prefix,
            });
        }
        Ok((sess, template_info))
    }

    /// Runs the remaining files: setup ones quietly, new ones observed (seeded first with
    /// `--seed-rows`). Returns the rows seeded per table.
    async fn run_files(&mut self, sess: &mut Session) -> Result<Vec<(String, u64)>, DryRunError> {
        let mut seeded: HashSet<String> = HashSet::new();
        let mut seeded_rows: Vec<(String, u64)> = Vec::new();
        let mut cached: Option<Catalog> = None;
        for (i, m) in self.migs.iter().enumerate().skip(self.done) {
            let role = self.roles[i];
            if role == Role::InDatabase {
                self.summary.already_applied += 1;
                self.done += 1;
                (self.on_progress)(self.done, self.migs.len());
                continue;
            }
            if self.failed {
                self.summary.skipped += 1;
                if role == Role::New {
                    self.summary.new += 1;
                    self.runs
                        .push(skipped_run(m, &self.statics[i], self.kind.dialect()));
                }
                continue;
            }
            match role {
                Role::Setup => {
                    cached = None;
                    if let Some(run) =
                        run_setup(sess, m, &self.statics[i], self.kind.dialect()).await?
                    {
                        self.runs.push(run);
                        self.failed = true;
                        self.summary.failed += 1;
                    } else {
                        self.summary.setup += 1;
                    }
                }
                _ => {
                    self.summary.new += 1;
                    let before = match cached.take() {
                        Some(c) => c,
                        None => sess.catalog().await?,
                    };
                    // every table gets its rows once, before the first new migration it precedes
                    if let Some(n) = self.settings.seed_rows {
                        let hist = m.layout.history_table();
                        let fresh: Vec<String> = before
                            .tables
                            .keys()
                            .filter(|t| {
                                t.as_str() != hist
                                    && !t.ends_with(&format!(".{hist}"))
                                    && !seeded.contains(*t)
                            })
                            .cloned()
                            .collect();
                        if !fresh.is_empty() {
                            let res =
                                seed::seed(&mut sess.conn, &before, &fresh, n, sess.mariadb).await;
                            for (t, why) in res.skipped {
                                self.warnings
                                    .push(format!("--seed-rows: {t} left as it was: {why}"));
                            }
                            for (t, rows) in &res.seeded {
                                seeded_rows.push((t.clone(), *rows));
                            }
                            seeded.extend(fresh);
                        }
                    }
                    let (mut run, after) = run_new(
                        sess,
                        m,
                        &self.statics[i],
                        self.kind.dialect(),
                        before,
                        self.settings.check_down,
                    )
                    .await?;
                    self.summary.statements += run
                        .statements
                        .iter()
                        .filter(|s| s.status != StmtStatus::NotRun)
                        .count();
                    self.summary.failed_statements += run
                        .statements
                        .iter()
                        .filter(|s| s.status == StmtStatus::Failed)
                        .count();
                    self.summary.findings += run.findings.len();
                    self.summary.found_by_execution +=
                        run.findings.iter().filter(|f| f.found_by_execution).count();
                    if run.down_check.as_ref().is_some_and(|d| d.status.fails()) {
                        self.summary.irreversible += 1;
                    }
                    // the second up failed: the database is no longer in the state the next file expects
                    let down_broke = self.settings.check_down
                        && run.status == Status::Applied
                        && after.is_none();
                    if down_broke {
                        run.notes.push(
                            "up failed again after down: the following migrations are not run"
                                .into(),
                        );
                    }
                    if run.status == Status::Failed || down_broke {
                        self.failed = true;
                        if run.status == Status::Failed {
                            self.summary.failed += 1;
                        } else {
                            self.summary.applied += 1;
                        }
                    } else {
                        self.summary.applied += 1;
                    }
                    cached = after;
                    self.runs.push(run);
                }
            }
            self.done = i + 1;
            (self.on_progress)(self.done, self.migs.len());
        }
        Ok(seeded_rows)
    }

    /// MySQL migrations on a MariaDB server (or the reverse): what differs for the statements
    /// this run executed (up parts of setup and new migrations, and down parts it ran).
    fn server_mismatch(&self) -> Option<vendor::ServerMismatch> {
        let target = self.target_vendor?;
        let dialect = self.kind.dialect();
        // (file, text, statements, is the up part)
        let mut sections: Vec<(String, &str, Vec<Statement>, bool)> = Vec::new();
        for (i, m) in self.migs.iter().enumerate().take(self.done) {
            if self.roles[i] == Role::InDatabase {
                continue;
            }
            sections.push((
                m.path.display().to_string(),
                &m.up.text,
                top_level(&m.up, dialect),
                true,
            ));
            if let Some(d) = m
                .down
                .as_ref()
                .filter(|_| self.settings.check_down && self.roles[i] == Role::New)
            {
                sections.push((
                    d.path.display().to_string(),
                    &d.text,
                    top_level(d, dialect),
                    false,
                ));
            }
        }
        // statements after a failure in their up part did not run
        let not_run = |path: &str, index: usize| {
            self.runs.iter().any(|r| {
                r.path == path
                    && r.statements
                        .get(index)
                        .is_some_and(|s| s.status == StmtStatus::NotRun)
            })
        };
        let mut statements = Vec::new();
        for (path, text, stmts, up) in &sections {
            let lines = LineIndex::new(text);
            for st in stmts.iter().filter(|st| !(*up && not_run(path, st.index))) {
                statements.push(vendor::RunStatement {
                    path: path.clone(),
                    line: lines.position(text, st.span.start).line,
                    text,
                    statement: st,
                });
            }
        }
        vendor::mismatch(
            target,
            self.settings.check.target_version,
            &self.target.server_version,
            &statements,
        )
    }

    fn report(
        self,
        startup_ms: f64,
        template_info: Option<TemplateInfo>,
        seeded_rows: Vec<(String, u64)>,
    ) -> DryRunReport {
        let new_runs: Vec<&MigrationRun> = self.runs.iter().filter(|r| r.new).collect();
        let verdict = new_runs
            .iter()
            .fold(Verdict::Safe, |v, r| v.worst(r.verdict));
        let static_verdict = new_runs
            .iter()
            .fold(Verdict::Safe, |v, r| v.worst(r.static_verdict));
        let gate_failed = self.settings.check.fail_on.fails(verdict);
        let passed = !self.failed
            && self.summary.failed == 0
            && self.summary.irreversible == 0
            && !gate_failed;
        if let target::Server::Scratch(s) = &self.target.server
            && !s.swept.is_empty()
        {
            self.warnings.push(format!(
                "dropped {} scratch database(s) left by crashed runs: {}",
                s.swept.len(),
                s.swept.join(", ")
            ));
        }
        let server_mismatch = self.server_mismatch();
        DryRunReport {
            schema_version: 1,
            tool: Tool::default(),
            engine: self.kind.as_str(),
            server_version: self.target.server_version.clone(),
            server: vendor::server_label(self.kind, &self.target.server_version),
            target: vendor::target_label(
                self.kind,
                self.target_vendor,
                self.settings.check.target_version,
            ),
            server_mismatch,
            database: DatabaseInfo {
                kind: self.target.kind_name(),
                url: self.settings.scratch_url.as_deref().map(redact_url),
                startup_ms,
                template: template_info,
            },
            mode: match self.settings.start {
                Start::Scratch => "scratch",
                Start::SchemaFrom(_) => "schema-from",
                Start::FromBackup(_) => "from-backup",
            },
            source: match &self.settings.start {
                Start::Scratch => None,
                Start::SchemaFrom(u) => Some(redact_url(u)),
                Start::FromBackup(p) => Some(p.display().to_string()),
            },
            seed_rows: self.settings.seed_rows,
            seeded: seeded_rows
                .into_iter()
                .map(|(table, rows)| SeededTable { table, rows })
                .collect(),
            check_down: self.settings.check_down,
            target_version: self.settings.check.target_version.map(|v| v.to_string()),
            warnings: std::mem::take(self.warnings),
            verdict,
            static_verdict,
            fail_on: match self.settings.check.fail_on {
                crate::model::FailOn::Destructive => "destructive",
                crate::model::FailOn::Risky => "risky",
                crate::model::FailOn::Caution => "caution",
                crate::model::FailOn::Never => "never",
            },
            passed,
            migrations: self.runs,
            summary: self.summary,
        }
    }
}
