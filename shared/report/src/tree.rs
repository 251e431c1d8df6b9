//! The directory tree of a report: the common root of all paths, one node per directory below
//! it (with totals of everything under it), and the page names of directories and files.

use std::collections::BTreeMap;

use ccaas_gcov::{Coverage, FileCoverage, Totals};

/// One source file.
pub struct FileNode<'a> {
    /// Its path in the model.
    pub path: &'a str,
    /// Its path relative to the root.
    pub rel: String,
    /// The directory it is in.
    pub dir: usize,
    /// Its coverage.
    pub cov: &'a FileCoverage,
}

/// One directory (index 0 is the root).
pub struct DirNode {
    /// Path relative to the root (empty for the root).
    pub rel: String,
    /// Parent directory (none for the root).
    pub parent: Option<usize>,
    /// Depth below the root.
    pub depth: usize,
    /// Direct subdirectories, in path order.
    pub subdirs: Vec<usize>,
    /// Files directly inside, in path order.
    pub files: Vec<usize>,
    /// Totals of every file below.
    pub totals: Totals,
}

/// The tree of a whole report.
pub struct Tree<'a> {
    /// The common directory of all files, as shown to users (ends with `/` unless empty).
    pub root: String,
    /// Directories in tree (pre-)order; 0 is the root.
    pub dirs: Vec<DirNode>,
    /// Files in model (path) order.
    pub files: Vec<FileNode<'a>>,
    /// The report totals.
    pub totals: Totals,
}

impl<'a> Tree<'a> {
    /// Builds the tree of a model.
    pub fn new(cov: &'a Coverage) -> Tree<'a> {
        let split: Vec<(Vec<&str>, &str)> = cov
            .files
            .keys()
            .map(|p| {
                let mut parts: Vec<&str> = p.split('/').collect();
                let name = parts.pop().unwrap_or("");
                (parts, name)
            })
            .collect();
        // The longest directory prefix shared by every file.
        let mut common: Vec<&str> = split.first().map(|(d, _)| d.clone()).unwrap_or_default();
        for (d, _) in &split {
            let n = common.iter().zip(d).take_while(|(a, b)| a == b).count();
            common.truncate(n);
        }
        let root = if common.is_empty() {
            String::new()
        } else {
            format!("{}/", common.join("/"))
        };
        // Every directory between the root and each file, in component order (pre-order).
        let mut dir_set: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
        dir_set.insert(Vec::new(), 0);
        for (d, _) in &split {
            let below = &d[common.len()..];
            for k in 1..=below.len() {
                dir_set.insert(below[..k].to_vec(), 0);
            }
        }
        let mut dirs = Vec::with_capacity(dir_set.len());
        for (i, (comps, slot)) in dir_set.iter_mut().enumerate() {
            *slot = i;
            dirs.push(DirNode {
                rel: comps.join("/"),
                parent: None,
                depth: comps.len(),
                subdirs: Vec::new(),
                files: Vec::new(),
                totals: Totals::default(),
            });
        }
        for (comps, &i) in &dir_set {
            if let Some((_, up)) = comps.split_last() {
                let p = dir_set.get(up).copied().unwrap_or(0);
                dirs[i].parent = Some(p);
                dirs[p].subdirs.push(i);
            }
        }
        let mut files = Vec::with_capacity(cov.files.len());
        for (i, ((path, fc), (d, name))) in cov.files.iter().zip(&split).enumerate() {
            let below = &d[common.len()..];
            let dir = dir_set.get(below).copied().unwrap_or(0);
            dirs[dir].files.push(i);
            let mut up = Some(dir);
            while let Some(u) = up {
                dirs[u].totals.add(&fc.totals);
                up = dirs[u].parent;
            }
            let rel = if below.is_empty() {
                (*name).to_string()
            } else {
                format!("{}/{}", below.join("/"), name)
            };
            files.push(FileNode {
                path,
                rel,
                dir,
                cov: fc,
            });
        }
        Tree {
            root,
            dirs,
            files,
            totals: cov.totals,
        }
    }

    /// The page of directory `d`, from the report root (`nested == false`) or from a page in
    /// `d/` or `f/` (`nested == true`).
    pub fn dir_href(&self, d: usize, nested: bool) -> String {
        let up = if nested { "../" } else { "" };
        if d == 0 {
            format!("{up}index.html")
        } else {
            format!("{up}d/{d}.html")
        }
    }

    /// The page of part `part` of file `f`.
    pub fn file_href(&self, f: usize, part: usize, nested: bool) -> String {
        let up = if nested { "../" } else { "" };
        if part == 0 {
            format!("{up}f/{f}.html")
        } else {
            format!("{up}f/{f}-{part}.html")
        }
    }

    /// The directories from the root down to `d` (inclusive).
    pub fn ancestry(&self, d: usize) -> Vec<usize> {
        let mut v = vec![d];
        let mut up = self.dirs[d].parent;
        while let Some(u) = up {
            v.push(u);
            up = self.dirs[u].parent;
        }
        v.reverse();
        v
    }
}
